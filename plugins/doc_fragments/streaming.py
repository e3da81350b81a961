# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The streaming state every plugin of spice.streaming can be asked for."""

    DOCUMENTATION = r'''
options:
  streaming_mode:
    description:
      - SPICE host-side streaming mode, how spice-server itself encodes fast-changing regions.
      - V(off) never streams, V(all) streams every fast-changing region, V(filter) skips small
        window surfaces.
      - MJPEG is built into spice-server; other codecs need spice-server built with GStreamer.
      - When omitted or V(null), the mode is left as it is. QEMU treats an absent mode as V(off).
    type: str
    choices: [ 'off', all, filter ]
  agent_channel:
    description:
      - Whether the virtio-serial port C(org.spice-space.stream.0), which
        C(spice-streaming-agent) in the guest writes its encoded stream to, is there.
      - V(present) makes sure there is a virtio-serial controller and exactly one
        C(spiceport) channel of that name. V(absent) removes that channel only; the
        controller stays, other channels may use it.
      - When omitted or V(null), the channel is left as it is.
    type: str
    choices: [ present, absent ]
'''

    LIBVIRT = r'''
options:
  uri:
    description:
      - libvirt connection URI of the hypervisor.
    type: str
    default: qemu:///system
  name:
    description:
      - Domains to manage, by exact name or shell-style pattern (V(vdi-*), V(*)).
      - An entry equal to the name of an existing domain selects exactly that domain, even
        when the name contains C(*), C(?) or C([) (libvirt allows them). Otherwise an entry
        with C(*), C(?) or C([) is a pattern (C([[]) matches a literal C([)), and an entry
        without them is an exact name that must exist.
      - An exact name that matches no domain fails the task before anything is changed. A
        pattern that matches nothing is a warning naming the hypervisor and the pattern.
    type: list
    elements: str
    required: true
    aliases: [ domains ]
  exclude:
    description:
      - Names or shell-style patterns of domains to leave out, applied after O(name). An
        entry equal to an existing domain's name excludes exactly that domain, as for O(name).
    type: list
    elements: str
    default: []
requirements:
  - libvirt-python (C(python3-libvirt) on Debian and Fedora family systems)
  - lxml (C(python3-lxml))
notes:
  - If the Python interpreter the module runs with lacks libvirt-python but the system
    Python has it (the distribution package), the module re-runs itself with the system Python.
'''
