# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a SPICE desktop found on a hypervisor becomes in an inventory: pure functions.

One place decides the host variables, the groups, the address Ansible connects to
and the host name of every desktop, from what ``libvirt_info`` says of the domain
(the per-domain dict of ``libvirt_domain_info``) and, when a QEMU guest agent
answered, what ``libvirt_desktops.read_guest`` brought back.  The
``spice.streaming.desktops`` inventory plugin uses it, and so can a playbook that
adds the desktops itself: the same variables and groups either way.

No libvirt, no Ansible and no XML parser here (the libosinfo id is read from a domain
already parsed).
"""

from __future__ import annotations

import fnmatch
import ipaddress

from ansible_collections.spice.streaming.plugins.module_utils.settings import GRAPHICS_SETTINGS, STREAM_PORT_NAME

# Every desktop the plugin found.
GROUP_ALL = 'spice_desktops'
# Running desktops whose running state has the stream channel: what the guest play acts on.
GROUP_STREAMING = 'streaming_guests'
# Running desktops whose stream channel a process in the guest holds open.
GROUP_AGENT_CONNECTED = 'streaming_agent_connected'
# Running desktops whose stream channel no process in the guest holds open.
GROUP_AGENT_DISCONNECTED = 'streaming_agent_disconnected'
# Running desktops whose definition is ahead of what runs (libvirt_domain's restart_required).
GROUP_COLD_START = 'streaming_waiting_for_cold_start'
GROUP_SHUT_OFF = 'streaming_shut_off'
GROUP_PAUSED = 'streaming_paused'
# Guest operating system families; ``unknown`` when neither the guest agent nor the
# definition's libosinfo metadata says.
OS_FAMILIES = ('linux', 'windows', 'other', 'unknown')
OS_GROUP_PREFIX = 'guest_os_'

GROUPS = (GROUP_ALL, GROUP_STREAMING, GROUP_AGENT_CONNECTED, GROUP_AGENT_DISCONNECTED,
          GROUP_COLD_START, GROUP_SHUT_OFF, GROUP_PAUSED) + tuple(OS_GROUP_PREFIX + family
                                                                  for family in OS_FAMILIES)

# Between the domain and the hypervisor name of a desktop that cannot have its plain
# name.  Not '@': with no ansible_host, ssh would read 'vdi-001@hv02' as user vdi-001 on
# the hypervisor hv02 and connect there.
NAME_SEPARATOR = '~'

ADDRESS_SOURCES = ('agent', 'lease', 'arp')
ADDRESS_FAMILIES = ('ipv4_first', 'ipv6_first', 'ipv4', 'ipv6')

WINDOWS_REASON = ('Windows guest: the stream_agent role installs the Linux spice-streaming-agent, '
                  'which does not run on Windows; listed here, not in %s' % GROUP_STREAMING)

# Hosts of libosinfo OS ids (http://debian.org/debian/12) that are Linux distributions.
_LINUX_OSINFO_HOSTS = (
    'almalinux.org', 'alpinelinux.org', 'altlinux.org', 'archlinux.org', 'centos.org',
    'debian.org', 'fedoraproject.org', 'gentoo.org', 'linuxmint.com', 'mageia.org',
    'novell.com', 'opensuse.org', 'oraclelinux.com', 'redhat.com', 'rockylinux.org',
    'slackware.com', 'suse.com', 'ubuntu.com', 'voidlinux.org', 'nixos.org', 'kali.org',
    'elementary.io', 'popos.org', 'manjaro.org', 'endlessos.com', 'clearlinux.org',
)

LIBOSINFO_NS = 'http://libosinfo.org/xmlns/libvirt/domain/1.0'


# ----------------------------------------------------------------------------- guest OS

def libosinfo_id(domain_root):
    """The ``id`` of ``<libosinfo:os>`` in a parsed domain's ``<metadata>``, or None.

    virt-install and virt-manager write it.  It is read from the XML the domain was
    already read with, not with libvirt's metadata call: that would cost one more
    round trip to the hypervisor for every desktop.
    """
    if domain_root is None:
        return None
    found = domain_root.find('metadata/{%s}libosinfo/{%s}os' % (LIBOSINFO_NS, LIBOSINFO_NS))
    return None if found is None else found.get('id')


def _family_of_agent(agent_os):
    os_id = (agent_os.get('id') or '').lower()
    name = (agent_os.get('name') or '').lower()
    if os_id == 'mswindows' or 'windows' in name:
        return 'windows'
    if 'bsd' in os_id or 'bsd' in name or os_id in ('solaris', 'illumos', 'darwin'):
        return 'other'
    # qemu-ga reports the kernel release on Linux (os-release has no kernel name).
    return 'linux'


def _family_of_osinfo(os_id):
    text = os_id.lower()
    if 'microsoft.com/win' in text:
        return 'windows'
    host = text.split('://', 1)[-1].split('/', 1)[0]
    if host.startswith('www.'):
        host = host[4:]
    if host in _LINUX_OSINFO_HOSTS:
        return 'linux'
    if host in ('libosinfo.org', ''):
        return 'unknown'   # http://libosinfo.org/linux/2022 is "some Linux" though
    return 'other'


def guest_os(agent_os=None, osinfo_id=None):
    """The guest OS of one desktop, as the ``spice_desktop_os`` variable.

    ``agent_os``: the ``os.*`` keys of libvirt's ``guestInfo`` (QEMU guest agent),
    without the prefix, or None; ``osinfo_id``: the libosinfo id in the definition's
    metadata (virt-manager and virt-install write it), used when the agent did not answer.
    """
    if agent_os:
        return {
            'family': _family_of_agent(agent_os),
            'source': 'guest_agent',
            'id': agent_os.get('id'),
            'name': agent_os.get('name'),
            'pretty_name': agent_os.get('pretty-name'),
            'version': agent_os.get('version'),
            'version_id': agent_os.get('version-id'),
            'kernel_release': agent_os.get('kernel-release'),
            'machine': agent_os.get('machine'),
            'libosinfo_id': osinfo_id,
        }
    if osinfo_id and 'libosinfo.org/linux' in osinfo_id:
        family = 'linux'
    else:
        family = _family_of_osinfo(osinfo_id) if osinfo_id else 'unknown'
    return {'family': family, 'source': 'libosinfo' if osinfo_id else None, 'id': None, 'name': None,
            'pretty_name': None, 'version': None, 'version_id': None, 'kernel_release': None,
            'machine': None, 'libosinfo_id': osinfo_id}


# ----------------------------------------------------------------------------- addresses

def _ip(text):
    try:
        return ipaddress.ip_address(text.split('%', 1)[0])
    except ValueError:
        return None


def usable_address(text):
    """Whether Ansible may connect to ``text``: never loopback, link-local, unspecified or multicast."""
    address = _ip(text)
    return address is not None and not (address.is_loopback or address.is_link_local
                                        or address.is_unspecified or address.is_multicast)


def _networks(networks):
    return [ipaddress.ip_network(network, strict=False) for network in networks or ()]


def check_address_options(networks=(), interfaces=(), family='ipv4_first', sources=ADDRESS_SOURCES):
    """A sentence for the first bad address option, or None."""
    for network in networks or ():
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as err:
            return "address_networks: '%s' is not a network in CIDR notation (%s)" % (network, err)
    if family not in ADDRESS_FAMILIES:
        return 'address_family must be one of %s, got %r' % (', '.join(ADDRESS_FAMILIES), family)
    unknown = [source for source in sources or () if source not in ADDRESS_SOURCES]
    if unknown:
        return 'address_sources may hold %s, got %s' % (', '.join(ADDRESS_SOURCES), ', '.join(map(str, unknown)))
    if not isinstance(interfaces, (list, tuple)):
        return 'address_interfaces must be a list of interface names or patterns'
    return None


def candidates(addresses, networks=(), interfaces=()):
    """The addresses Ansible may use, in the order given (source order, then as reported)."""
    nets = _networks(networks)
    chosen = []
    for entry in addresses:
        if not usable_address(entry['address']):
            continue
        if interfaces and not any(fnmatch.fnmatchcase(entry.get('interface') or '', pattern)
                                  for pattern in interfaces):
            continue
        address = _ip(entry['address'])
        if nets and not any(address.version == net.version and address in net for net in nets):
            continue
        chosen.append(entry)
    return chosen


def choose_address(addresses, networks=(), interfaces=(), family='ipv4_first'):
    """The address ``ansible_host`` gets, or None.

    ``addresses``: dicts with ``address``, ``family`` (``ipv4``/``ipv6``), ``interface``
    and ``source``, in source order (guest agent, then DHCP lease, then ARP) and, within a
    source, in the order it reported them.  The first source with a candidate wins; within
    it the first address of the preferred family, else the first of the other one
    (``ipv4``/``ipv6`` alone: never the other one).
    """
    usable = candidates(addresses, networks, interfaces)
    if family in ('ipv4', 'ipv6'):
        usable = [entry for entry in usable if entry['family'] == family]
    if not usable:
        return None
    source = usable[0]['source']
    same_source = [entry for entry in usable if entry['source'] == source]
    preferred = 'ipv6' if family.startswith('ipv6') else 'ipv4'
    for entry in same_source:
        if entry['family'] == preferred:
            return entry['address']
    return same_source[0]['address']


# ----------------------------------------------------------------------------- state and groups

def is_desktop(info):
    """Whether libvirt_info's description of a domain is a SPICE desktop the inventory lists."""
    # A domain that disappeared while read has no graphics in its description either.
    return 'spice' in (info.get('graphics') or [])


def _groups(info, os_family):
    groups = [GROUP_ALL, OS_GROUP_PREFIX + (os_family if os_family in OS_FAMILIES else 'other')]
    state = info.get('state')
    if state == 'shut off':
        groups.append(GROUP_SHUT_OFF)
    elif state == 'paused':
        groups.append(GROUP_PAUSED)
    if info.get('active') and info.get('restart_required'):
        groups.append(GROUP_COLD_START)
    if info.get('agent_channel_state') == 'connected':
        groups.append(GROUP_AGENT_CONNECTED)
    elif info.get('active') and info.get('agent_channel_live') and info.get('agent_channel_state') != 'connected':
        groups.append(GROUP_AGENT_DISCONNECTED)
    return groups


def _status(info, os_family, before_host_side):
    """``(targeted, reason, words)``: ``words`` the reason in a few words, for a summary line."""
    state = info.get('state')
    running = state == 'running'
    if state == 'shut off':
        return False, 'agent pending: desktop is shut off (it gets the agent on a run after it starts)', \
            'desktop is shut off'
    if state == 'paused':
        return False, 'agent pending: desktop is paused', 'desktop is paused'
    if os_family == 'windows':
        return False, WINDOWS_REASON, 'Windows guest'
    if running and not info.get('agent_channel_live') and before_host_side and not info.get('skipped'):
        return True, ('running without the %s channel yet: the hypervisor side of this run gives it one '
                      '(hot-plugged or at a restart), or it waits for a cold start' % STREAM_PORT_NAME), \
            'running, stream channel to come'
    if running and not info.get('agent_channel_live'):
        if info.get('skipped') and not info.get('agent_channel'):
            return False, 'no %s channel, and the hypervisor side leaves it alone: %s' % (
                STREAM_PORT_NAME, info.get('reason')), 'no stream channel, left alone by the hypervisor side'
        if info.get('agent_channel'):
            return False, ('agent pending: its definition has the %s channel but the running desktop does '
                           'not; it appears at the next cold start (shut down, then start)' % STREAM_PORT_NAME), \
                'waits for a cold start'
        return False, ('no %s channel: run enable_streaming.yml (host side) on its hypervisor first'
                       % STREAM_PORT_NAME), 'no stream channel'
    if not running:
        words = 'desktop is %s' % (state or 'in an unknown state')
        return False, 'agent pending: ' + words, words
    if info.get('agent_channel_state') == 'connected':
        return True, 'running with the stream channel; an agent holds it', 'agent connected'
    return True, 'running with the stream channel; no agent holds it yet', 'running with the stream channel'


def desktop_status(info, os_family='unknown', before_host_side=False):
    """``(groups, targeted, reason)`` of one desktop; ``targeted``: in ``streaming_guests``.

    ``before_host_side``: the state was read before the hypervisor side of
    ``enable_streaming.yml`` acts, which gives a running desktop the stream channel (live, or at
    a restart): a running desktop without it is targeted then, unless the host side leaves it
    alone (``skipped``).
    """
    groups = _groups(info, os_family)
    targeted, reason, _words = _status(info, os_family, before_host_side)
    if targeted:
        groups.append(GROUP_STREAMING)
    return groups, targeted, reason


# What libvirt_domain_info says of a desktop that its host variables carry: each graphics
# setting as defined and as running (streaming_mode, streaming_mode_live, image_compression, ...).
_INFO_KEYS = (('state', 'active', 'persistent', 'graphics')
              + tuple(key for item in GRAPHICS_SETTINGS for key in (item.name, item.name + '_live'))
              + ('agent_channel', 'agent_channel_live', 'agent_channel_state', 'restart_required',
                 'problems', 'skipped', 'reason'))


def desktop_vars(domain, hypervisor, info, guest=None, networks=(), interfaces=(), family='ipv4_first',
                 before_host_side=False):
    """``(host_vars, groups)`` of one desktop.

    ``info``: libvirt_info's per-domain dict; ``guest``: libvirt_desktops.read_guest's
    result or None (then the OS is unknown and there is no address).  ``ansible_host`` is
    set only when an address is chosen.  ``before_host_side``: as for :func:`desktop_status`.
    """
    guest = guest or {}
    os_facts = guest_os(guest.get('os'), guest.get('libosinfo_id'))
    groups, targeted, reason = desktop_status(info, os_facts['family'], before_host_side)
    addresses = guest.get('addresses') or []
    host_vars = {
        'stream_agent_domain': domain,
        'stream_agent_hypervisor': hypervisor,
        'spice_streaming': {key: info.get(key) for key in _INFO_KEYS},
        'spice_desktop_os': os_facts,
        'spice_desktop_guest_agent': guest.get('agent') or 'not asked',
        'spice_desktop_addresses': [entry for entry in addresses if usable_address(entry['address'])],
        'spice_desktop_targeted': targeted,
        'spice_desktop_reason': reason,
    }
    address = choose_address(addresses, networks, interfaces, family)
    if address is not None:
        host_vars['ansible_host'] = address
    return host_vars, groups


# ----------------------------------------------------------------------------- host names

def qualified_name(domain, hypervisor):
    return '%s%s%s' % (domain, NAME_SEPARATOR, hypervisor)


def host_names(entries, taken=()):
    """Inventory host names for desktops, and the warnings for names found more than once.

    ``entries``: ``(hypervisor, domain, running)`` in hypervisor order (the order of the
    ``hypervisors`` option or of the group's hosts).  Rule: a domain name found on one
    hypervisor only is the host name.  Found on several, the plain name goes to the one
    that runs, when exactly one runs, else to the first in hypervisor order; every other
    becomes ``<domain>~<hypervisor>``.  A domain whose name an earlier inventory source
    already holds (``taken``) never gets the plain name.  Returns ``(names, warnings)``
    with ``names[(hypervisor, domain)] = host name``.
    """
    by_domain = {}
    for hypervisor, domain, running in entries:
        by_domain.setdefault(domain, []).append((hypervisor, running))
    taken = set(taken)
    names = {}
    warnings = []
    for domain, places in by_domain.items():
        if domain in taken:
            for hypervisor, _running in places:
                names[(hypervisor, domain)] = qualified_name(domain, hypervisor)
            warnings.append(
                "a host named '%s' already exists in the inventory (an earlier source), so the desktop "
                "'%s' on %s is listed as %s; rename one of them, or drop the hand-written entry."
                % (domain, domain, ', '.join(hypervisor for hypervisor, _r in places),
                   ', '.join("'%s'" % qualified_name(domain, hypervisor) for hypervisor, _r in places)))
            continue
        if len(places) == 1:
            names[(places[0][0], domain)] = domain
            continue
        running = [hypervisor for hypervisor, is_running in places if is_running]
        primary = running[0] if len(running) == 1 else places[0][0]
        why = 'the one that runs' if len(running) == 1 else 'the first hypervisor listed'
        for hypervisor, _running in places:
            names[(hypervisor, domain)] = domain if hypervisor == primary else qualified_name(domain, hypervisor)
        others = [hypervisor for hypervisor, _running in places if hypervisor != primary]
        warnings.append(
            "the domain '%s' is on %d hypervisors (%s): host '%s' is the one on %s (%s), %s; "
            "a migration in flight or a copied template? Rename one, or leave it out with exclude."
            % (domain, len(places), ', '.join(hypervisor for hypervisor, _r in places), domain, primary, why,
               ', '.join("'%s' the one on %s" % (qualified_name(domain, hypervisor), hypervisor)
                         for hypervisor in others)))
    return names, warnings


# ----------------------------------------------------------------------------- desktops a playbook finds

PENDING = 'pending'
NOT_TARGETED = 'not_targeted'


def is_pending(info):
    """Whether the agent simply waits for the desktop: shut off, paused, or waiting for a cold start."""
    return info.get('state') in ('shut off', 'paused') or bool(
        info.get('state') == 'running' and info.get('agent_channel') and not info.get('agent_channel_live'))


def _domains_of(result):
    """libvirt_domain_info's ``domains`` of a read that worked, else None (skipped, failed, unreachable)."""
    if not isinstance(result, dict) or result.get('failed') or result.get('unreachable') or result.get('skipped'):
        return None
    domains = result.get('domains')
    return domains if isinstance(domains, dict) else None


def found_desktops(reads, taken=(), covered=()):
    """The desktops a playbook adds to its inventory, and the ones it leaves for a later run.

    ``reads``: ``[(hypervisor, result)]`` in hypervisor order, ``result`` being what
    ``libvirt_domain_info`` with ``guest_agent`` returned on that hypervisor (a skipped,
    failed or unreachable result is no read).  Read before the hypervisor side acts, so a
    running desktop without the stream channel yet is taken (:func:`desktop_status`).
    ``covered``: ``(hypervisor, domain)`` pairs a host of the inventory already stands for
    (a hand-written guest): those are left to it.  ``taken``: host names already in the
    inventory.

    Returns ``{'hosts': [{'name', 'groups', 'vars'}], 'left': [{'hypervisor', 'domain',
    'status', 'reason'}], 'warnings': [...]}``: ``hosts`` in hypervisor then domain order, what
    ``add_host`` gets (the same variables and groups as the inventory plugin, ``vars`` with
    ``ansible_host`` when an address was found); ``left`` the desktops not added, ``status``
    :data:`PENDING` (shut off, paused, waiting for a cold start) or :data:`NOT_TARGETED`
    (Windows, no channel and left alone by the host side), ``reason`` in a sentence and
    ``words`` in a few words.
    """
    covered = {tuple(pair) for pair in covered}
    chosen = []
    left = []
    for hypervisor, result in reads:
        domains = _domains_of(result)
        if domains is None:
            continue
        for domain in sorted(domains):
            info = domains[domain]
            if not is_desktop(info) or (hypervisor, domain) in covered:
                continue
            host_vars, groups = desktop_vars(domain, hypervisor, info, info.get('guest'), before_host_side=True)
            if host_vars['spice_desktop_targeted']:
                chosen.append((hypervisor, domain, info.get('state') == 'running', host_vars, groups))
            else:
                left.append({'hypervisor': hypervisor, 'domain': domain,
                             'status': PENDING if is_pending(info) else NOT_TARGETED,
                             'reason': host_vars['spice_desktop_reason'],
                             'words': _status(info, host_vars['spice_desktop_os']['family'], True)[2]})
    names, warnings = host_names([(hypervisor, domain, running) for hypervisor, domain, running, _v, _g in chosen],
                                 taken=taken)
    hosts = [{'name': names[(hypervisor, domain)], 'groups': groups, 'vars': host_vars}
             for hypervisor, domain, _running, host_vars, groups in chosen]
    return {'hosts': hosts, 'left': left, 'warnings': warnings}


def desktop_now(result, domain, os_family='unknown', check_mode=False):
    """Whether a found desktop can take the agent now, from a read made after the hypervisor side.

    ``result``: ``libvirt_domain_info``'s result on its hypervisor (None, or a skipped or
    failed read: not known).  Returns ``{'known': bool, 'targeted': bool, 'status':
    'targeted' | PENDING | NOT_TARGETED, 'reason': sentence, 'words': the reason in a few words}``.
    ``check_mode``: the hypervisor side only previewed its changes, so a running desktop still
    without its channel is pending on them, not without a channel.
    """
    domains = _domains_of(result)
    if domains is None:
        return {'known': False, 'targeted': False, 'status': None, 'reason': None, 'words': None}
    info = domains.get(domain)
    if info is None:
        return {'known': True, 'targeted': False, 'status': NOT_TARGETED,
                'reason': 'domain %s is not on its hypervisor any more (removed or renamed during the run)' % domain,
                'words': 'domain gone from its hypervisor'}
    targeted, reason, words = _status(info, os_family, False)
    if check_mode and not targeted and not info.get('agent_channel') and _status(info, os_family, True)[0]:
        return {'known': True, 'targeted': False, 'status': PENDING,
                'reason': ('check mode: the hypervisor side only previewed its changes; a real run gives the '
                           'desktop its stream channel (hot-plugged or at a restart), or it waits for a cold start'),
                'words': 'stream channel to come (check mode)'}
    status = 'targeted' if targeted else PENDING if is_pending(info) else NOT_TARGETED
    return {'known': True, 'targeted': targeted, 'status': status, 'reason': reason, 'words': words}


def lookup(hostvars, host, name):
    """``hostvars[host][name]``, or None (no such host or variable; an undefined value)."""
    try:
        return hostvars[host][name]
    except Exception:  # pylint: disable=broad-exception-caught  # KeyError, or Ansible's undefined
        return None


def covered_pairs(existing, hostvars):
    """``(hypervisor, domain)`` that the hosts ``existing`` stand for (hand-written guests, the plugin's).

    ``hostvars``: a mapping of host name to its variables (a play's ``hostvars``).  A host
    without ``stream_agent_hypervisor`` stands for no domain of a known hypervisor.
    """
    pairs = set()
    for host in existing or ():
        hypervisor = lookup(hostvars, host, 'stream_agent_hypervisor') if hostvars is not None else None
        if hypervisor:
            domain = lookup(hostvars, host, 'stream_agent_domain') or host
            pairs.add((str(hypervisor), str(domain)))
    return pairs


def found_in_play(reads, hostvars=None, existing=(), taken=()):
    """:func:`found_desktops` for a play: ``reads`` ``{hypervisor: result}`` (in play order),
    ``existing`` the hosts of ``streaming_guests`` already (left to stand for their domains),
    ``taken`` every host name of the inventory."""
    pairs = list(reads.items()) if hasattr(reads, 'items') else [tuple(pair) for pair in reads]
    return found_desktops([(str(hypervisor), result) for hypervisor, result in pairs],
                          taken=set(taken or ()) | set(existing or ()),
                          covered=covered_pairs(existing, hostvars))
