# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``desktop_hosts`` and ``desktop_now`` filters: desktops a playbook finds on its hypervisors.

``enable_streaming.yml`` (with ``streaming_discover_guests``) reads its hypervisors with
``libvirt_domain_info`` and ``guest_agent``, and hands the results to ``desktop_hosts``,
whose items go to ``add_host`` as they are: the same host names, variables and groups as
the ``spice.streaming.desktops`` inventory plugin gives (both use
``module_utils/desktops.py``).  ``desktop_now`` says whether such a desktop can take the
agent once the hypervisor side has acted.

Documentation lives beside this file, in ``desktop_hosts.yml`` and ``desktop_now.yml``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.template import Templar
from ansible.utils.display import Display

from ansible_collections.spice.streaming.plugins.module_utils import desktops

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core before 2.19 templates every string
    def trust_as_template(value):
        return value

display = Display()

COMPOSE_VAR = 'streaming_discover_compose'
# add_host's own keys: a composed variable of that name would be taken for them.
_ADD_HOST_KEYS = ('name', 'host', 'hostname', 'groups', 'group', 'groupname')


def _reads(reads):
    if isinstance(reads, Mapping):
        return reads
    try:
        return [(str(hypervisor), result) for hypervisor, result in reads]
    except (TypeError, ValueError) as err:
        raise AnsibleFilterError('desktop_hosts takes {hypervisor: libvirt_domain_info result}, or a list of '
                                 '[hypervisor, result] pairs; got %s' % type(reads).__name__) from err


class _Composer:
    """Evaluates ``compose`` expressions with one desktop's variables, as the inventory plugin's compose."""

    def __init__(self, hostvars):
        self.hostvars = hostvars
        self.templar = Templar(loader=None, variables={})

    def evaluate(self, expression, variables):
        self.templar.available_variables = variables
        if hasattr(self.templar, 'evaluate_expression'):
            return self.templar.evaluate_expression(trust_as_template(expression))
        return self.templar.template('{{ %s }}' % expression)  # pragma: no cover (before 2.19)

    def apply(self, host, compose):
        if not compose:
            return host
        if not isinstance(compose, Mapping):
            raise AnsibleFilterError('%s must be a dict of variable names to Jinja2 expressions, as the '
                                     "inventory plugin's compose; got %r" % (COMPOSE_VAR, compose))
        variables = dict(host['vars'])
        variables.update({'inventory_hostname': host['name'], 'group_names': sorted(host['groups'])})
        if self.hostvars is not None:
            variables['hostvars'] = self.hostvars
        for name, expression in compose.items():
            if name in _ADD_HOST_KEYS:
                raise AnsibleFilterError("%s cannot set '%s' (add_host reads it as the host's name or groups)"
                                         % (COMPOSE_VAR, name))
            try:
                value = self.evaluate(str(expression), variables)
            except Exception as err:
                raise AnsibleFilterError(
                    "%s: could not work out %s for desktop %s (domain %s on %s) from the expression %r: %s. "
                    "The expressions are Jinja2 expressions, not templates (quote a string: \"'127.0.0.1'\"), "
                    'over the desktop\'s variables (stream_agent_domain, stream_agent_hypervisor, spice_streaming, '
                    'spice_desktop_os, spice_desktop_addresses, ...) and hostvars'
                    % (COMPOSE_VAR, name, host['name'], host['vars']['stream_agent_domain'],
                       host['vars']['stream_agent_hypervisor'], str(expression), err)) from err
            host['vars'][name] = value
            variables[name] = value
        return host


def desktop_hosts(reads, hostvars=None, existing=(), taken=(), compose=None):
    """The desktops found on the hypervisors, as ``add_host`` arguments (see desktop_hosts.yml)."""
    result = desktops.found_in_play(_reads(reads), hostvars, existing, taken)
    for warning in result['warnings']:
        display.warning('spice.streaming.desktop_hosts: %s' % warning)
    composer = _Composer(hostvars)
    items = []
    for host in result['hosts']:
        rules = compose
        if rules is None:
            rules = desktops.lookup(hostvars, host['vars']['stream_agent_hypervisor'], COMPOSE_VAR)
        host = composer.apply(host, rules)
        item = {'name': host['name'], 'groups': host['groups']}
        item.update(host['vars'])
        items.append(item)
    return items


def desktop_now(result, domain, os_family='unknown', check_mode=False):
    """Whether a found desktop can take the agent now (see desktop_now.yml)."""
    return desktops.desktop_now(result, str(domain), os_family or 'unknown', bool(check_mode))


class FilterModule:
    """Desktops found by the playbooks of spice.streaming."""

    def filters(self):
        return {'desktop_hosts': desktop_hosts, 'desktop_now': desktop_now}
