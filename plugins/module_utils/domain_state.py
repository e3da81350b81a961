# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a domain's XML says about SPICE streaming, without changing it.

Pure functions over lxml trees parsed by ``domain_xml.parse_domain``: no
libvirt, no Ansible.  ``libvirt_info`` reports with them; the restart logic
asks :func:`live_gaps` which running domains lack what their definition says;
:func:`compliance` says how a domain stands against a request, with the very
functions ``libvirt_domain`` plans with.
"""

from __future__ import annotations

import copy

from ansible_collections.spice.streaming.plugins.module_utils import domain_xml
from ansible_collections.spice.streaming.plugins.module_utils.settings import (
    AGENT_CHANNEL,
    COLD_START,
    GRAPHICS_SETTINGS,
    STREAM_PORT_NAME,
)


def streaming_state(root):
    """The streaming facts of one definition (inactive or live XML), as a small dict.

    For each graphics setting (``settings.GRAPHICS_SETTINGS``) the value written
    in the first SPICE ``<graphics>``, by the setting's name (``streaming_mode``:
    ``None`` when unset or without SPICE, QEMU then runs ``off``);
    ``channel_state`` is the ``state`` attribute libvirt puts on the stream
    channel's target in live XML only (``connected`` while a process in the
    guest holds the port open).
    """
    spice = domain_xml.spice_graphics(root)
    channels = domain_xml.stream_channels(root)
    target = channels[0].find('target') if channels else None
    state = {item.name: domain_xml.setting_of(spice[0], item) if spice else None
             for item in GRAPHICS_SETTINGS}
    state.update({
        'graphics': [graphics.get('type') for graphics in root.iterfind('./devices/graphics')],
        'agent_channel': bool(channels),
        'channel_count': len(channels),
        'channel_state': None if target is None else target.get('state'),
    })
    return state


def live_gaps(inactive_root, live_root):
    """What the running domain lacks, or still has, compared with its persistent definition.

    Returns ``[{'change': setting name, 'reason': str}]`` (``streaming_mode``,
    ``image_compression``, ..., ``agent_channel``); empty when the running domain
    already is what its definition says.  Values compare as QEMU runs them (an
    absent mode is ``off``), so a definition that spells out ``off`` is no gap on a
    domain that runs without the element.
    """
    return _gaps(inactive_root, live_root, saved=False)


# What a saved state means for a change, said once for every gap of a saved domain.
SAVED_STATE_WAIT = (
    'starting the domain resumes its saved state (virsh managedsave) with the configuration it '
    'was saved with, so this takes effect only once the saved state is discarded (virsh '
    'managedsave-remove, which loses the running session kept in it; then start it) or at a cold '
    'start after the resumed domain is shut down')


def saved_state_gaps(inactive_root, saved_root):
    """What a domain's managed save image lacks, or still has, compared with its definition.

    ``saved_root`` is the domain XML stored in the image (``managedSaveGetXMLDesc``).
    The same shape as :func:`live_gaps`; the reasons say that the change waits for
    the saved state to be discarded or for a cold start after it was resumed.
    """
    return _gaps(inactive_root, saved_root, saved=True)


def _gaps(inactive_root, other_root, saved):
    gaps = []
    other = 'the saved state' if saved else 'the running domain'
    for item in GRAPHICS_SETTINGS:
        defined = domain_xml.effective_values(inactive_root, item)
        running = domain_xml.effective_values(other_root, item)
        if defined == running:
            continue
        gaps.append({
            'change': item.name,
            'reason': 'the definition says %s %s, %s %s %s; %s'
                      % (item.noun, '/'.join(defined) or 'none (no SPICE graphics)', other,
                         'was saved with %s' % item.noun if saved else item.running,
                         '/'.join(running) or 'none (no SPICE graphics)',
                         SAVED_STATE_WAIT if saved else
                         'libvirt applies %s at %s' % (item.label, COLD_START)),
        })
    in_definition = bool(domain_xml.stream_channels(inactive_root))
    in_other = bool(domain_xml.stream_channels(other_root))
    if in_definition and not in_other:
        gaps.append({
            'change': AGENT_CHANNEL.name,
            'reason': 'the definition has the %s channel, %s does not; %s'
                      % (STREAM_PORT_NAME, other, SAVED_STATE_WAIT if saved else
                         'it appears at the next cold start (libvirt 9.0 cannot hot-plug a '
                         'spiceport channel)'),
        })
    elif in_other and not in_definition:
        gaps.append({
            'change': AGENT_CHANNEL.name,
            'reason': '%s still has the %s channel its definition no longer has; %s'
                      % (other, STREAM_PORT_NAME, SAVED_STATE_WAIT if saved else
                         'it goes at the next cold start (or by a hot-unplug)'),
        })
    return gaps


def domain_problems(root, require_spice=True):
    """What would stop or trouble ``libvirt_domain`` on this definition, as sentences.

    Independent of any request.  ``require_spice=False`` leaves out the missing
    SPICE graphics, for a domain selected by a pattern: ``libvirt_domain`` skips
    such a domain instead of failing on it.
    """
    problems = []
    conflicts = domain_xml.conflicting_stream_ports(root)
    if conflicts:
        problems.append('%s already named %s: QEMU will not start a domain with two ports of one '
                        'name, so libvirt_domain refuses to add the stream channel; remove or '
                        'rename it' % (' and '.join(conflicts), STREAM_PORT_NAME))
    channels = domain_xml.stream_channels(root)
    if len(channels) > 1:
        problems.append('%d stream channels: QEMU refuses to start a domain with two ports named '
                        '%s; libvirt_domain with agent_channel=present reduces them to one'
                        % (len(channels), STREAM_PORT_NAME))
    if channels and not domain_xml.virtio_serial_controllers(root):
        problems.append('a stream channel but no virtio-serial controller to carry it; '
                        'libvirt_domain with agent_channel=present adds one')
    if require_spice and not domain_xml.spice_graphics(root):
        problems.append(domain_xml.no_spice(fix=True))
    return problems


# How a domain stands against a request (libvirt_domain_info's compare_with), in the order
# the report counts them.
COMPLIANCE = ('compliant', 'waiting', 'not_compliant', 'left_alone')
# How the reason of a definition that libvirt_domain would change begins (the other reasons of
# not_compliant say why it cannot, as the domain's problems do).
WOULD_CHANGE = 'the definition is not as asked; libvirt_domain would change it: '


def compliance(inactive_root, live_root, request, exact, saved_root=None):
    """How a domain stands against ``request``, judged as ``libvirt_domain`` plans; pure.

    ``request`` is a ``domain_xml.StreamingRequest`` (the override for this domain
    already chosen).  Returns ``(state, reasons)``, ``state`` one of :data:`COMPLIANCE`:

    * ``not_compliant``: ``libvirt_domain`` asked the same would change the definition
      (the reasons are its actions) or refuse the domain (the reasons say why);
    * ``waiting``: the definition is as asked, the running domain (or the saved state
      a start would resume) is not yet; the reasons say what waits and for what;
    * ``compliant``: definition and running state are as asked;
    * ``left_alone``: ``libvirt_domain`` skips it (transient, or without SPICE
      graphics while selected by a pattern).

    ``inactive_root`` is ``None`` for a transient domain; it is not changed (the
    request is tried on a copy).
    """
    if inactive_root is None:
        if exact:
            return 'not_compliant', ['transient and named exactly: libvirt_domain refuses it (defining '
                                     'it would make it persistent)']
        return 'left_alone', []
    problems = domain_xml.check_request(inactive_root, request)
    if problems:
        if not exact and not domain_xml.spice_graphics(inactive_root):
            return 'left_alone', []
        return 'not_compliant', ['libvirt_domain cannot bring it to the asked state: it %s' % '; it '.join(problems)]
    wanted = copy.deepcopy(inactive_root)
    actions = domain_xml.apply_request(wanted, request, checked=True)
    if actions:
        return 'not_compliant', [WOULD_CHANGE + '; '.join(actions)]
    if request.is_empty:
        return 'compliant', []
    if live_root is not None:
        hotplug, pending = domain_xml.pending_live_changes(live_root, request)
        reasons = [gap['reason'] for gap in pending]
        if hotplug == 'attach':
            reasons.append('the definition has the %s channel, the running domain not yet: '
                           'libvirt_domain with live hot-plugs it, else it appears at the next '
                           'cold start' % STREAM_PORT_NAME)
        elif hotplug == 'detach':
            reasons.append('the running domain still has the %s channel its definition no longer '
                           'has: libvirt_domain with live hot-unplugs it, else it goes at the next '
                           'cold start' % STREAM_PORT_NAME)
        return ('waiting', reasons) if reasons else ('compliant', [])
    if saved_root is not None:
        gaps = saved_state_gaps(wanted, saved_root)
        if gaps:
            return 'waiting', [gap['reason'] for gap in gaps]
    return 'compliant', []
