# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
name: desktops
short_description: The SPICE desktops of libvirt hypervisors, found and grouped for the streaming plays
version_added: 0.2.0
description:
  - Lists the administrator's hypervisors, reads them in parallel, and makes one inventory host per
    SPICE desktop (libvirt domain with SPICE graphics) found on them, with the variables the guest
    play of C(enable_streaming.yml) needs (C(stream_agent_domain), C(stream_agent_hypervisor)) and
    what libvirt says of the desktop's streaming state, guest OS and addresses.
  - The hypervisors come from the O(hypervisors) list, or else from the hosts of the inventory group
    O(hypervisor_group) that an earlier inventory source loaded (in a directory, sources load in
    alphabetical order, so name this file to sort after the one that lists the hypervisors).
  - Per hypervisor it uses the reader of M(spice.streaming.libvirt_domain_info) (the inactive XML of
    every domain, the live XML of running ones, over O(parallel) connections), then asks the QEMU
    guest agent of each running desktop for its OS and addresses, within O(guest_agent_timeout)
    seconds. Nothing is changed on any hypervisor or guest.
  - "Groups (names fixed): C(spice_desktops) every desktop found; C(streaming_guests) running
    desktops whose running state has the C(org.spice-space.stream.0) channel and that are not
    Windows (what the guest play can act on now); C(streaming_agent_connected) running desktops whose
    stream channel a process in the guest holds open; C(streaming_agent_disconnected) running
    desktops whose stream channel no process holds; C(streaming_waiting_for_cold_start) running
    desktops whose definition is ahead of what runs; C(streaming_shut_off); C(streaming_paused);
    C(guest_os_linux), C(guest_os_windows), C(guest_os_other), C(guest_os_unknown) by guest OS
    family (from the guest agent, else from the definition's libosinfo metadata)."
  - "Host variables: C(stream_agent_domain) (the libvirt domain), C(stream_agent_hypervisor) (the
    hypervisor's name), C(spice_streaming) (what M(spice.streaming.libvirt_domain_info) says of the
    domain: C(state), C(active), C(persistent), C(graphics), C(streaming_mode),
    C(streaming_mode_live), each compression as defined and as running (C(image_compression),
    C(image_compression_live), C(jpeg_compression), C(jpeg_compression_live), C(zlib_compression),
    C(zlib_compression_live), C(playback_compression), C(playback_compression_live)),
    C(agent_channel), C(agent_channel_live), C(agent_channel_state),
    C(restart_required), C(problems), C(skipped), C(reason)), C(spice_desktop_os) (C(family), C(source),
    C(id), C(name), C(pretty_name), C(version), C(version_id), C(kernel_release), C(machine),
    C(libosinfo_id)), C(spice_desktop_guest_agent) (C(answered) or why not), C(spice_desktop_addresses)
    (C(address), C(prefix), C(family), C(interface), C(hwaddr), C(source); loopback and link-local
    addresses left out), C(spice_desktop_targeted) (in C(streaming_guests)) and C(spice_desktop_reason)
    (why, or why not, in words). C(ansible_host) is the first usable address (O(address_sources),
    O(address_networks), O(address_interfaces), O(address_family)), and is not set when there is none;
    O(compose) can override it."
  - The host name is the domain name. A domain name found on several hypervisors (a migration in
    flight, copies of one template) keeps its plain name on the hypervisor where it runs, when it runs
    on exactly one, else on the first hypervisor listed; on the others it becomes
    C(<domain>~<hypervisor>), with a warning. A domain whose name an earlier source already holds as
    a host is always C(<domain>~<hypervisor>), with a warning. No host is ever silently overwritten.
  - A hypervisor that cannot be read (refused, unreachable, no answer within O(timeout) seconds) is a
    warning naming it and its URI, and the other hypervisors load; with O(strict) it is an error.
    The variable C(spice_desktops_hypervisors) (on the group C(all)) says per hypervisor its URI, how
    many desktops were found, and the error, if any.
author:
  - spice.streaming maintainers (@spice-streaming)
requirements:
  - libvirt-python (C(python3-libvirt)) and lxml (C(python3-lxml)) in the Python that runs Ansible
    on the controller.
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
options:
  plugin:
    description: Marks the file as a source for this plugin; the file name must end in C(.spice_desktops.yml) or C(.spice_desktops.yaml).
    type: str
    required: true
    choices: [spice.streaming.desktops]
  hypervisors:
    description:
      - The hypervisors to read. When not set, the hosts of O(hypervisor_group) are read.
    type: list
    elements: dict
    suboptions:
      name:
        description: The inventory name of the hypervisor; the desktops' C(stream_agent_hypervisor) holds it.
        type: str
        required: true
      uri:
        description: The libvirt URI the controller connects to, such as V(qemu+ssh://root@hv01.example.org/system).
        type: str
        required: true
      domains:
        description: Names or shell patterns of the domains to read on this hypervisor; defaults to O(domains).
        type: list
        elements: str
      exclude:
        description: Names or patterns to leave out on this hypervisor; defaults to O(exclude).
        type: list
        elements: str
  hypervisor_group:
    description:
      - The inventory group whose hosts are the hypervisors, when O(hypervisors) is not set. An earlier
        inventory source must have loaded it.
    type: str
    default: hypervisors
  uri_var:
    description:
      - The host variable that holds a hypervisor's libvirt URI (as seen from the controller), for
        hypervisors of O(hypervisor_group). When a host does not set it, O(uri_template) is used.
    type: str
    default: spice_desktops_uri
  uri_template:
    description:
      - The libvirt URI of a hypervisor of O(hypervisor_group) that does not set O(uri_var), as a Jinja2
        template over its variables (its host and group variables; with O(use_vars_plugins) also
        C(host_vars/) and C(group_vars/)).
      - The default is V(qemu:///system) for a host with C(ansible_connection=local), else
        C(qemu+ssh://) as Ansible reaches the host (C(ansible_user), default V(root); C(ansible_host),
        default the inventory name; C(ansible_port) when set).
    type: str
    default: >-
      {% if ansible_connection | default('ssh') == 'local' %}qemu:///system{% else %}qemu+ssh://{{
      ansible_user | default('root') }}@{{ ansible_host | default(inventory_hostname) }}{{
      (':' ~ ansible_port) if ansible_port is defined else '' }}/system{% endif %}
  use_vars_plugins:
    description:
      - Read the hypervisors' C(host_vars/) and C(group_vars/) (through the vars plugins) to render
        O(uri_template) and find O(uri_var), O(domains_var) and O(exclude_var), as
        O(ansible.builtin.constructed#inventory:use_vars_plugins) does.
    type: bool
    default: true
  domains:
    description:
      - Names or shell-style patterns (V(vdi-*)) of the domains to read on every hypervisor. Domains
        without SPICE graphics are never listed. A name found on no hypervisor is no error.
    type: list
    elements: str
    default: ['*']
  exclude:
    description: Names or patterns of domains to leave out, applied after O(domains).
    type: list
    elements: str
    default: []
  domains_var:
    description:
      - The host variable of a hypervisor of O(hypervisor_group) that, when set, replaces O(domains) for
        it. By default the selection of the C(host_streaming) role, so the inventory lists the desktops
        that C(enable_streaming.yml) manages. Set to V('') to use O(domains) everywhere.
    type: str
    default: host_streaming_domains
  exclude_var:
    description: As O(domains_var), for O(exclude).
    type: str
    default: host_streaming_exclude
  parallel_hypervisors:
    description:
      - How many hypervisors are read at the same time (one thread and one libvirt connection each;
        over C(qemu+ssh://) one SSH session each).
      - A read of a remote hypervisor mostly waits for the network, one round trip per call, so the
        whole fleet takes about as long as its slowest hypervisor only when they are all read at
        once; the controller's CPU, not the thread count, is the limit then (bench/README.md,
        part "Desktops inventory").
    type: int
    default: 32
  parallel:
    description:
      - How many libvirt connections the reads of one hypervisor are spread over, as
        O(spice.streaming.libvirt_domain_info#module:parallel).
      - V(1) by default, unlike the module; the hypervisors are already read in parallel, and over
        C(qemu+ssh://) every further connection is one more SSH login, made before the reads start.
        Raise it for a few hypervisors with thousands of running desktops whose guest agents are slow.
    type: int
    default: 1
  timeout:
    description:
      - Seconds one hypervisor's read may take, connection included. One that takes longer is
        treated as unreadable (a warning, or an error with O(strict)); the others are not held up.
    type: float
    default: 120
  guest_agent:
    description:
      - Ask the QEMU guest agent (channel C(org.qemu.guest_agent.0), C(qemu-guest-agent) in the guest)
        of each running desktop for its OS and addresses. libvirt allows this only on a read-write
        connection, so the plugin opens one (it calls no API that changes anything); when the
        hypervisor refuses it, the plugin reads without the agents and warns.
      - V(false) opens read-only connections and asks no agent.
    type: bool
    default: true
  guest_agent_timeout:
    description: Seconds one desktop's guest agent gets to answer; a desktop whose agent does not answer in time is listed without it.
    type: float
    default: 5
  osinfo_metadata:
    description:
      - When no guest agent answered (or the desktop is not running), read the libosinfo id that
        virt-manager and virt-install write into the definition's metadata, for the OS family.
    type: bool
    default: true
  address_sources:
    description:
      - Where addresses come from, in order of preference; the first source that gives a usable
        address decides C(ansible_host). V(agent) the QEMU guest agent (addresses inside the guest),
        V(lease) libvirt's DHCP leases (libvirt-managed networks), V(arp) the hypervisor's ARP table.
    type: list
    elements: str
    choices: [agent, lease, arp]
    default: [agent, lease, arp]
  address_networks:
    description: Only addresses inside one of these networks (CIDR notation) can become C(ansible_host); all when empty.
    type: list
    elements: str
    default: []
  address_interfaces:
    description:
      - Only addresses of these interfaces (names or shell patterns) can become C(ansible_host); all
        when empty. The names are those the source reports, inside the guest for V(agent) (V(ens3)),
        on the hypervisor for V(lease) and V(arp) (V(vnet3)).
    type: list
    elements: str
    default: []
  address_family:
    description:
      - V(ipv4_first) and V(ipv6_first) prefer one family and take the other when the source has
        nothing else; V(ipv4) and V(ipv6) never take the other one.
    type: str
    choices: [ipv4_first, ipv6_first, ipv4, ipv6]
    default: ipv4_first
notes:
  - Loopback, link-local, unspecified and multicast addresses never become C(ansible_host).
  - With O(cache), the hypervisors' reads are cached as one entry per source file, used only while the
    list of hypervisors, URIs and selections is the same; a read with an unreadable hypervisor is not
    cached. C(ansible-inventory --flush-cache) reads again.
  - Windows desktops are listed (C(guest_os_windows)) with the reason in C(spice_desktop_reason), and
    are never in C(streaming_guests), since the stream_agent role installs the Linux agent.
seealso:
  - module: spice.streaming.libvirt_domain_info
  - plugin: ansible.builtin.constructed
    plugin_type: inventory
'''

EXAMPLES = r'''
# fleet/hosts.yml lists the hypervisors (group "hypervisors"); this file,
# fleet/streaming.spice_desktops.yml, sorts after it and finds their desktops:
#   ansible-inventory -i fleet/ --graph
plugin: spice.streaming.desktops
# URIs from the hypervisors' variables: qemu+ssh://admin@hv01.example.org/system
uri_template: "qemu+ssh://{{ ansible_user }}@{{ ansible_host | default(inventory_hostname) }}/system"

---
# The hypervisors listed here instead, with their own selections.
plugin: spice.streaming.desktops
hypervisors:
  - name: hv01.example.org
    uri: qemu+ssh://root@hv01.example.org/system
  - name: hv02.example.org
    uri: qemu+ssh://root@hv02.example.org/system?keyfile=/etc/ansible/keys/libvirt
    domains: ['desk-*']
exclude: ['vdi-golden-*', 'vdi-template-*']
# Desktops reach the controller on the office network only, over IPv4.
address_networks: [10.20.0.0/16]
address_family: ipv4
keyed_groups:
  - key: stream_agent_hypervisor     # hv_hv01_example_org, ...
    prefix: hv
  - key: spice_desktop_os.id         # os_debian, os_ubuntu, ...
    prefix: os
groups:
  needs_restart: spice_streaming.restart_required | length > 0
compose:
  ansible_user: "'desk-admin'"
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/spice-desktops
cache_timeout: 600

---
# Desktops behind QEMU user networking, reached through a port forward on the
# hypervisor: connect to the forward, not to the guest's own address.
plugin: spice.streaming.desktops
hypervisors:
  - name: lab
    uri: qemu:///system
compose:
  ansible_host: "'127.0.0.1'"
  ansible_port: 2222
'''

from ansible.errors import AnsibleParserError
from ansible.inventory.helpers import get_group_vars
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var
from ansible.utils.vars import combine_vars
from ansible.vars.plugins import get_vars_from_inventory_sources

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core before 2.19 templates every string that is not marked unsafe
    def trust_as_template(value):
        return value

    as_data = wrap_var
else:
    # 2.19 and later template only what is trusted; what the plugin sets is not.
    def as_data(value):
        return value

from ansible_collections.spice.streaming.plugins.module_utils import desktops
from ansible_collections.spice.streaming.plugins.module_utils import libvirt_desktops
from ansible_collections.spice.streaming.plugins.module_utils.domain_xml import etree
from ansible_collections.spice.streaming.plugins.module_utils.libvirt_connect import StreamingError, libvirt

CACHE_FORMAT = 1


class Hypervisor:
    """One hypervisor to read: its inventory name, URI and selection."""

    __slots__ = ('name', 'uri', 'domains', 'exclude')

    def __init__(self, name, uri, domains, exclude):
        self.name = name
        self.uri = uri
        self.domains = list(domains)
        self.exclude = list(exclude)

    def key(self):
        return [self.name, self.uri, self.domains, self.exclude]


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """One host per SPICE desktop of the listed hypervisors."""

    NAME = 'spice.streaming.desktops'

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(('.spice_desktops.yml', '.spice_desktops.yaml'))

    # ------------------------------------------------------------------ options

    def _check_options(self, path):
        if libvirt is None or etree is None:
            raise AnsibleParserError(
                '%s: the spice.streaming.desktops inventory plugin needs libvirt-python and lxml in the '
                'Python that runs Ansible on the controller (Debian/Ubuntu: apt install python3-libvirt '
                'python3-lxml; in a virtualenv: pip install libvirt-python lxml)' % path)
        sentence = desktops.check_address_options(
            self.get_option('address_networks'), self.get_option('address_interfaces'),
            self.get_option('address_family'), self.get_option('address_sources'))
        if sentence:
            raise AnsibleParserError('%s: %s' % (path, sentence))
        for option in ('parallel_hypervisors', 'parallel'):
            if self.get_option(option) < 1:
                raise AnsibleParserError('%s: %s must be at least 1, got %s' % (path, option, self.get_option(option)))

    def _host_vars(self, host):
        """A hypervisor host's variables as a play would see them (groups, then host)."""
        hostvars = combine_vars(get_group_vars(host.get_groups()), host.get_vars())
        if self.get_option('use_vars_plugins'):
            sources = getattr(self.inventory, 'processed_sources', [])
            hostvars = combine_vars(hostvars, get_vars_from_inventory_sources(
                self.loader, sources, host.get_groups(), 'all'))
            hostvars = combine_vars(hostvars, get_vars_from_inventory_sources(self.loader, sources, [host], 'all'))
        hostvars.setdefault('inventory_hostname', host.name)
        return hostvars

    def _from_group(self, path):
        group_name = self.get_option('hypervisor_group')
        group = self.inventory.groups.get(group_name)
        if group is None:
            raise AnsibleParserError(
                "%s: no hypervisors to read: 'hypervisors' is not set and the inventory has no group '%s' "
                'yet. List them in this file (hypervisors: [{name: ..., uri: ...}]), or load the group from '
                'a source read before this one (in an inventory directory sources load in alphabetical '
                "order: name this file so it sorts after the one with the group, e.g. 'zz.spice_desktops.yml'), "
                'or set hypervisor_group' % (path, group_name))
        found = []
        for host in group.get_hosts():
            hostvars = self._host_vars(host)
            uri = hostvars.get(self.get_option('uri_var')) if self.get_option('uri_var') else None
            if not uri:
                try:
                    self.templar.available_variables = hostvars
                    uri = self.templar.template(trust_as_template(self.get_option('uri_template')))
                except Exception as err:
                    raise AnsibleParserError(
                        '%s: could not make the libvirt URI of hypervisor %s from uri_template (%s): %s. Set '
                        '%s on that host, or fix uri_template' % (path, host.name, self.get_option('uri_template'),
                                                                  err, self.get_option('uri_var'))) from err
            domains = self.get_option('domains')
            exclude = self.get_option('exclude')
            if self.get_option('domains_var') and hostvars.get(self.get_option('domains_var')):
                domains = hostvars[self.get_option('domains_var')]
            if self.get_option('exclude_var') and hostvars.get(self.get_option('exclude_var')) is not None:
                exclude = hostvars[self.get_option('exclude_var')]
            found.append(Hypervisor(host.name, str(uri), [str(entry) for entry in domains],
                                    [str(entry) for entry in exclude]))
        if not found:
            self.display.warning("spice.streaming.desktops (%s): the group '%s' has no host: no desktop to list"
                                 % (path, group_name))
        return found

    def _hypervisors(self, path):
        listed = self.get_option('hypervisors')
        if not listed:
            return self._from_group(path)
        found = []
        for index, entry in enumerate(listed):
            if not isinstance(entry, dict) or not entry.get('name') or not entry.get('uri'):
                raise AnsibleParserError('%s: hypervisors[%d] needs a name and a uri, got %r' % (path, index, entry))
            found.append(Hypervisor(str(entry['name']), str(entry['uri']),
                                    [str(e) for e in (entry.get('domains') or self.get_option('domains'))],
                                    [str(e) for e in (entry.get('exclude') if entry.get('exclude') is not None
                                                      else self.get_option('exclude'))]))
        names = [hypervisor.name for hypervisor in found]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise AnsibleParserError('%s: hypervisors lists %s more than once; every name must be unique'
                                     % (path, ', '.join(twice)))
        return found

    # ------------------------------------------------------------------ reading

    def _read_one(self, hypervisor):
        networks = self.get_option('address_networks')
        interfaces = self.get_option('address_interfaces')
        family = self.get_option('address_family')

        def enough(addresses):
            return desktops.choose_address(addresses, networks, interfaces, family) is not None

        return libvirt_desktops.read_desktops(
            hypervisor.uri, hypervisor.domains, hypervisor.exclude, parallel=self.get_option('parallel'),
            guest_agent=self.get_option('guest_agent'), agent_timeout=self.get_option('guest_agent_timeout'),
            sources=self.get_option('address_sources'), enough=enough,
            osinfo=self.get_option('osinfo_metadata'),
            # Each connection and call bounded too (libvirt's keepalive), so a daemon that
            # stops answering frees its reader thread instead of holding it for ever.
            libvirt_timeout=max(1, int(float(self.get_option('timeout')))))

    def _read_fleet(self, hypervisors):
        """``{name: {'result': read_desktops' dict or None, 'error': sentence or None, 'seconds': s}}``."""
        timeout = float(self.get_option('timeout'))
        outcomes = libvirt_desktops.read_many(hypervisors, self._read_one, self.get_option('parallel_hypervisors'),
                                              timeout)
        reads = {}
        for hypervisor, (value, error, seconds) in zip(hypervisors, outcomes):
            if error is libvirt_desktops.LATE:
                error = 'no answer within %g s (timeout)' % timeout
            elif isinstance(error, StreamingError):
                error = error.msg.rstrip('.')
            elif error is not None:
                error = '%s: %s' % (type(error).__name__, error)
            reads[hypervisor.name] = {'result': value, 'error': error, 'seconds': round(seconds, 3)}
        return reads

    # ------------------------------------------------------------------ parse

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        self._check_options(path)
        hypervisors = self._hypervisors(path)
        wanted = [hypervisor.key() for hypervisor in hypervisors]

        cache_key = self.get_cache_key(path)
        use_cache = self.get_option('cache') and cache
        update_cache = self.get_option('cache') and not cache
        reads = None
        if use_cache:
            try:
                cached = self._cache[cache_key]
            except KeyError:
                update_cache = True
            else:
                if isinstance(cached, dict) and cached.get('format') == CACHE_FORMAT and cached.get('hypervisors') == wanted:
                    reads = cached['reads']
                else:
                    update_cache = True   # another fleet than the one cached
        if reads is None:
            reads = self._read_fleet(hypervisors)
        if update_cache:
            if any(read['error'] for read in reads.values()):
                self.display.warning('spice.streaming.desktops (%s): not cached, since a hypervisor could not be read'
                                     % path)
            else:
                self._cache[cache_key] = {'format': CACHE_FORMAT, 'hypervisors': wanted, 'reads': reads}
        self._populate(path, hypervisors, reads)

    def _report_errors(self, path, hypervisors, reads):
        failed = [(hypervisor, reads[hypervisor.name]['error']) for hypervisor in hypervisors
                  if reads[hypervisor.name]['error']]
        messages = ['hypervisor %s (%s) could not be read: %s' % (hypervisor.name, hypervisor.uri, error)
                    for hypervisor, error in failed]
        if failed and self.get_option('strict'):
            raise AnsibleParserError('%s: %s. Nothing was listed (strict is true); set strict: false to list the '
                                     'other hypervisors\' desktops anyway' % (path, '; '.join(messages)))
        for message in messages:
            self.display.warning('spice.streaming.desktops: %s. Its desktops are missing from this inventory; '
                                 'the other hypervisors loaded.' % message)

    def _populate(self, path, hypervisors, reads):
        self._report_errors(path, hypervisors, reads)
        networks = self.get_option('address_networks')
        interfaces = self.get_option('address_interfaces')
        family = self.get_option('address_family')
        strict = self.get_option('strict')

        entries = []
        for hypervisor in hypervisors:
            result = reads[hypervisor.name]['result']
            for note in (result or {}).get('notes') or []:
                self.display.warning('spice.streaming.desktops: %s' % note)
            for domain, found in ((result or {}).get('desktops') or {}).items():
                entries.append((hypervisor.name, domain, found['info'].get('state') == 'running'))
        names, warnings = desktops.host_names(entries, taken=set(self.inventory.hosts))
        for warning in warnings:
            self.display.warning('spice.streaming.desktops: %s' % warning)

        self.inventory.add_group(desktops.GROUP_ALL)
        self.inventory.add_group(desktops.GROUP_STREAMING)
        summary = {}
        for hypervisor in hypervisors:
            read = reads[hypervisor.name]
            found = ((read['result'] or {}).get('desktops') or {})
            summary[hypervisor.name] = {
                'uri': hypervisor.uri, 'desktops': len(found), 'error': read['error'],
                'domains_read': (read['result'] or {}).get('domains_read', 0),
            }
            for domain in found:
                host_vars, groups = desktops.desktop_vars(
                    domain, hypervisor.name, found[domain]['info'], found[domain]['guest'],
                    networks, interfaces, family)
                host = names[(hypervisor.name, domain)]
                self.inventory.add_host(host, group=desktops.GROUP_ALL)
                for name, value in host_vars.items():
                    # What hypervisors and guests report is data, never a template.
                    self.inventory.set_variable(host, name, as_data(value))
                for group in groups:
                    self.inventory.add_group(group)
                    self.inventory.add_child(group, host)
                self._construct(host, host_vars, strict)
        self.inventory.set_variable('all', 'spice_desktops_hypervisors', as_data(summary))

    def _construct(self, host, host_vars, strict):
        if not (self.get_option('compose') or self.get_option('groups') or self.get_option('keyed_groups')):
            return
        variables = combine_vars(self.inventory.get_host(host).get_vars(), host_vars)
        variables = combine_vars(get_group_vars(self.inventory.get_host(host).get_groups()), variables)
        self._set_composite_vars(self.get_option('compose'), variables, host, strict=strict)
        variables = combine_vars(variables, self.inventory.get_host(host).get_vars())
        self._add_host_to_composed_groups(self.get_option('groups'), variables, host, strict=strict,
                                          fetch_hostvars=False)
        self._add_host_to_keyed_groups(self.get_option('keyed_groups'), variables, host, strict=strict,
                                       fetch_hostvars=False)
