# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for the pip bootstrap script ansible-test downloads for its sanity venvs.

ansible-test fetches get-pip.py from its own file host, which machines that only
reach the package registries cannot reach; it documents that a copy may be
placed in its cache instead.  This stand-in installs the pip that ships with
Python (ensurepip), then lets that pip install what ansible-test asked for
(``pip==<version>`` and options) from the configured package index.
"""

import ensurepip
import subprocess
import sys

ensurepip.bootstrap(upgrade=True)
ARGS = [arg for arg in sys.argv[1:] if arg not in ('--no-setuptools', '--no-wheel')]
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install', '--disable-pip-version-check'] + ARGS))
