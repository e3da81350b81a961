# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module of the collection as the unprivileged user 'nobody'.

'nobody' may not enter the checkout or pytest's tmp_path (both can be 0700), so it
gets a world-readable copy of what the module imports: ansible and the plugins.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

from tests.support.collection_path import REPO_ROOT

NOBODY = ('nobody', 'nogroup')


def world_readable_dir(prefix='sst-nobody-'):
    """A fresh directory 'nobody' can read; the caller removes it."""
    work = tempfile.mkdtemp(prefix=prefix)
    os.chmod(work, 0o755)
    return work


def run_module_as_nobody(module, module_args, work=None):
    """Run ``plugins/modules/<module>.py`` as 'nobody' with /usr/bin/python3; return its JSON result."""
    import ansible

    own_work = work is None
    work = work or world_readable_dir()
    try:
        skip = shutil.ignore_patterns('__pycache__')
        shutil.copytree(os.path.dirname(ansible.__file__), os.path.join(work, 'ansible'), ignore=skip)
        shutil.copytree(os.path.join(REPO_ROOT, 'plugins'),
                        os.path.join(work, 'ansible_collections', 'spice', 'streaming', 'plugins'), ignore=skip)
        args_file = os.path.join(work, 'args.json')
        with open(args_file, 'w', encoding='utf-8') as handle:
            json.dump({'ANSIBLE_MODULE_ARGS': module_args}, handle)
        subprocess.run(['chmod', '-R', 'a+rX', work], check=True)
        proc = subprocess.run(
            ['setpriv', '--reuid', NOBODY[0], '--regid', NOBODY[1], '--clear-groups', '/usr/bin/python3', '-m',
             'ansible_collections.spice.streaming.plugins.modules.' + module, args_file],
            capture_output=True, text=True, timeout=120, check=False, cwd='/',
            env={'PATH': '/usr/bin:/bin', 'HOME': '/nonexistent', 'PYTHONPATH': work})
    finally:
        if own_work:
            shutil.rmtree(work)
    assert '{' in proc.stdout, (proc.stdout, proc.stderr)
    return json.loads(proc.stdout[proc.stdout.index('{'):])
