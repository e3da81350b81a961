# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Variables that have no effect: a misspelled name, or a play keyword set in the inventory.

``host_streaming_mod: all`` (for ``host_streaming_mode``) used to be ignored without a
word, and the role applied its default to every desktop.  Every variable whose name
starts with one of the collection's prefixes is checked against the names the
collection knows, which are read from the collection itself, never from a second
list kept by hand:

* every option of every entry point in the roles' ``meta/argument_specs.yml`` (the
  roles' inputs);
* every name with one of the prefixes that the playbooks (their header comments
  document their ``streaming_*`` variables), the roles' tasks and the inventory plugin
  use: what they read, and what they register or set (``host_streaming_result``,
  ``streaming_guest_plan``), which a later play sees as host variables.

``streaming_serial`` is a play keyword's value (``serial``), which Ansible reads before
any inventory variable: in group_vars or host_vars it has no effect, and a play that
ran more hypervisors at once than it asks shows it was not used.

Pure functions, and :func:`check`, which reads the host variables of a task's
``task_vars``: the ``check_variables`` action plugin returns what it finds, and the
actions of the role's module tasks (``plugin_utils/domain_task.py``) warn with it
before they run, once per run however many hosts (Ansible shows a warning once).
"""

from __future__ import annotations

import difflib
import functools
import glob
import os
import re

import yaml
from ansible.utils.helpers import pct_to_int

PREFIXES = ('host_streaming_', 'stream_agent_', 'streaming_')

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Where each prefix's variables are documented, for a name with no close match.
_DOCUMENTED = {
    'host_streaming_': "'ansible-doc -t role spice.streaming.host_streaming' lists them",
    'stream_agent_': "'ansible-doc -t role spice.streaming.stream_agent' lists them",
    'streaming_': "the playbooks' header comments list them (README.md, Variables)",
}

# Hosts named in one warning before "and N more".
_SHOWN_HOSTS = 5

_NAME = re.compile(r'(?<![\w.])((?:%s)[a-z0-9_]*[a-z0-9])' % '|'.join(prefix for prefix in PREFIXES))


def role_inputs(root=COLLECTION_ROOT):
    """The options of every entry point of every role's argument specs."""
    names = set()
    for path in sorted(glob.glob(os.path.join(root, 'roles', '*', 'meta', 'argument_specs.yml'))):
        with open(path, encoding='utf-8') as handle:
            specs = (yaml.safe_load(handle) or {}).get('argument_specs') or {}
        for entry in specs.values():
            names.update((entry or {}).get('options') or {})
    return names


def used_names(root=COLLECTION_ROOT):
    """Every name with one of the prefixes in the playbooks, the roles' tasks and the inventory plugin."""
    patterns = ('playbooks/**/*', 'roles/*/tasks/*.yml', 'roles/*/templates/*', 'plugins/inventory/*.py')
    names = set()
    for pattern in patterns:
        for path in sorted(glob.glob(os.path.join(root, pattern), recursive=True)):
            if os.path.isfile(path):
                with open(path, encoding='utf-8', errors='replace') as handle:
                    names.update(_NAME.findall(handle.read()))
    return names


@functools.lru_cache(maxsize=4)
def known_names(root=COLLECTION_ROOT):
    """The collection's variables: role inputs, and what its playbooks and roles use."""
    return frozenset(role_inputs(root) | used_names(root))


def _some(hosts, total):
    hosts = sorted(hosts)
    if total and len(hosts) == total and total > 1:
        return 'all %d hosts' % total
    if len(hosts) <= _SHOWN_HOSTS:
        return ', '.join(hosts)
    return '%s and %d more' % (', '.join(hosts[:_SHOWN_HOSTS]), len(hosts) - _SHOWN_HOSTS)


def unknown_variables(names_by_host, known, prefixes=PREFIXES):
    """``{name: [hosts]}`` of the variables with one of ``prefixes`` that ``known`` lacks."""
    unknown = {}
    for host, names in names_by_host.items():
        for name in names:
            if name.startswith(prefixes) and name not in known:
                unknown.setdefault(name, []).append(host)
    return unknown


def closest(name, known, prefixes=PREFIXES):
    """The known name ``name`` most likely misspells, or None.

    Compared after the prefix, among the names of the same prefix: the prefix they
    share would make any two names of one prefix look alike.
    """
    prefix = max((prefix for prefix in prefixes if name.startswith(prefix)), key=len, default='')
    suffixes = {other[len(prefix):]: other for other in known if other.startswith(prefix)}
    matches = difflib.get_close_matches(name[len(prefix):], sorted(suffixes), n=1, cutoff=0.6)
    return suffixes[matches[0]] if matches else None


def unknown_variable_warnings(names_by_host, known, prefixes=PREFIXES):
    """One sentence per unknown variable, with the closest valid name."""
    total = len(names_by_host)
    warnings = []
    for name, hosts in sorted(unknown_variables(names_by_host, known, prefixes).items()):
        guess = closest(name, known)
        prefix = next(prefix for prefix in prefixes if name.startswith(prefix))
        warnings.append(
            '%s is set (for %s) but spice.streaming has no variable of that name, so it has no effect: %s'
            % (name, _some(hosts, total),
               'did you mean %s?' % guess if guess else 'check its name; %s.' % _DOCUMENTED[prefix]))
    return warnings


def serial_size(serial, hosts):
    """How many hosts a play's first batch holds with ``serial: <serial>`` over ``hosts`` hosts; None if unreadable.

    As Ansible makes its batches (a list's first value, a percentage rounded down but at
    least 1, and 0 or less meaning every host).
    """
    if isinstance(serial, list):
        serial = serial[0] if serial else 0
    try:
        size = pct_to_int(serial.strip() if isinstance(serial, str) else serial, hosts)
    except (TypeError, ValueError):
        return None
    return hosts if size <= 0 else min(size, hosts)


def ignored_serial_warning(serial_by_host, batch_size, play_size):
    """A sentence when ``streaming_serial`` is set yet the play's batch is larger than it asks; else None.

    ``serial_by_host``: the value each host of the play sees (inventory variables
    included), only for the hosts where it is set.
    """
    ignored = {host: value for host, value in serial_by_host.items()
               if serial_size(value, play_size) is not None and batch_size > serial_size(value, play_size)}
    if not ignored:
        return None
    values = sorted({str(value) for value in ignored.values()})
    return ('streaming_serial is %s (for %s), yet this play runs %d hosts at once: it has no effect here. '
            'It is the play keyword serial, which Ansible reads before any inventory variable, so '
            'group_vars and host_vars cannot set it: give it on the command line, '
            '-e streaming_serial=%s (streaming_max_fail_percentage likewise).'
            % (' or '.join(values), _some(ignored, play_size), batch_size, values[0]))


def check(task_vars, hosts=None):
    """What :func:`unknown_variables` and :func:`ignored_serial_warning` find, from ``task_vars``.

    ``hosts``: whose variables to check (default every host of the inventory).  Returns
    ``{'unknown_variables': {name: {'hosts', 'closest'}}, 'warnings': [...]}``, plus
    ``skipped_reason`` in a later batch of a play with ``serial`` (the first batch
    checked everything).
    """
    hostvars = task_vars['hostvars']
    play_hosts = list(task_vars.get('ansible_play_hosts_all') or [])
    batch = list(task_vars.get('ansible_play_batch') or play_hosts)
    if hosts is None:
        hosts = task_vars.get('groups', {}).get('all', play_hosts)
    found = {'unknown_variables': {}, 'warnings': []}
    if play_hosts and batch and batch[0] != play_hosts[0]:
        found['skipped_reason'] = 'checked in the first batch of the play'
        return found
    names_by_host = {host: [name for name in hostvars[host] if name.startswith(PREFIXES)] for host in hosts}
    known = known_names()
    for name, where in unknown_variables(names_by_host, known).items():
        found['unknown_variables'][name] = {'hosts': sorted(where), 'closest': closest(name, known)}
    found['warnings'].extend(unknown_variable_warnings(names_by_host, known))
    serial = {host: hostvars[host]['streaming_serial'] for host in play_hosts if 'streaming_serial' in hostvars[host]}
    warning = ignored_serial_warning(serial, len(batch), len(play_hosts))
    if warning:
        found['warnings'].append(warning)
    return found
