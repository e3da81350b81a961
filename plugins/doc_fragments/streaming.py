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
  image_compression:
    description:
      - How spice-server compresses the images it sends (what is not streamed as video), libvirt
        C(<image compression=...>), QEMU C(-spice image-compression=).
      - V(quic) suits photographic images, V(glz) and V(lz) artificial ones (V(glz) with a
        dictionary shared across images, which saves bandwidth and costs memory on both ends);
        V(auto_glz) and V(auto_lz) choose per image between QUIC and GLZ or LZ; V(off) sends images
        uncompressed.
      - When omitted or V(null), it is left as it is. QEMU treats an absent setting as V(auto_glz).
    type: str
    choices: [ auto_glz, auto_lz, quic, glz, lz, 'off' ]
    version_added: 0.2.0
  jpeg_compression:
    description:
      - Whether spice-server re-compresses photographic images lossily as JPEG, libvirt C(<jpeg
        compression=...>), QEMU C(-spice jpeg-wan-compression=).
      - V(auto) does so on a link spice-server measures as slow (WAN), V(always) always, V(never)
        never.
      - When omitted or V(null), it is left as it is. QEMU treats an absent setting as V(auto).
    type: str
    choices: [ auto, never, always ]
    version_added: 0.2.0
  zlib_compression:
    description:
      - Whether spice-server compresses GLZ-compressed images once more with zlib, libvirt C(<zlib
        compression=...>), QEMU C(-spice zlib-glz-wan-compression=).
      - V(auto) does so on a link spice-server measures as slow (WAN), V(always) always, V(never)
        never.
      - When omitted or V(null), it is left as it is. QEMU treats an absent setting as V(auto).
    type: str
    choices: [ auto, never, always ]
    version_added: 0.2.0
  playback_compression:
    description:
      - Whether spice-server compresses the audio it plays to the client, libvirt C(<playback
        compression=...>), QEMU C(-spice playback-compression=).
      - When omitted or V(null), it is left as it is. QEMU treats an absent setting as V(on).
    type: str
    choices: [ 'on', 'off' ]
    version_added: 0.2.0
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
  parallel:
    description:
      - How many libvirt connections the per-domain work (reading, checking, defining, starting)
        is spread over, one thread each; V(1) is one connection and no thread. Connections are
        opened when there is work for them, never more than there are domains to process.
      - libvirtd serves connections in parallel, so a few connections finish a large hypervisor
        sooner than any serial loop (see the README's speed section for measurements). Each
        connection is one client of the daemon (its C(max_clients), default 5000) with one call
        in flight, served by one of its workers. When the daemon refuses a connection, the task
        runs with the ones it has and warns.
      - At most V(10), half of libvirtd's default C(max_workers) (20, the calls it serves at once
        for all its clients), so that the task never takes every worker and other clients
        (C(virsh), virt-manager, another task) are still answered; measurements show no gain
        beyond V(4). A larger value fails the task before it connects.
      - Every guarantee holds whatever the value (plan before any define, a re-read before each
        define, results in name order, one message when the connection is lost).
    type: int
    default: 4
    version_added: 0.2.0
  libvirt_timeout:
    description:
      - Seconds libvirt may stay silent before the task gives up on the hypervisor, at least V(1).
      - Bounds opening each connection (libvirt itself has no connect timeout) and every call
        after it, through libvirt's keepalive, which pings the daemon and drops the connection
        when it has not answered for about this long. A busy daemon still answers the pings, so
        long operations (a define, a domain start) are never cut short.
      - A hypervisor that does not answer in time fails the task with a message that names the
        host and the URI; other hypervisors of the play go on.
    type: int
    default: 30
    version_added: 0.2.0
requirements:
  - libvirt-python (C(python3-libvirt) on Debian and Fedora family systems)
  - lxml (C(python3-lxml))
notes:
  - If the Python interpreter the module runs with lacks libvirt-python but the system
    Python has it (the distribution package), the module re-runs itself with the system Python.
'''

    # The options the collection's roles and action plugins set; not for playbooks.
    INTERNAL = r'''
options:
  option_names:
    description:
      - Internal, set by the collection's roles; leave it out in a playbook.
      - The names under which the caller sets the options, for the messages, as a mapping from
        option to name. When it maps C(force_off) to C(host_streaming_force_off), a message tells
        the user to set C(host_streaming_force_off), the role variable, where it would say
        C(force_off). Options left out keep their own name.
    type: dict
    default: {}
    version_added: 0.2.0
  restart_step:
    description:
      - Internal, set by the module's action plugin; leave it out.
      - With O(restart=when_needed), the action plugin runs the module once to converge and
        plan the restarts, then once or more per restart batch, and shows between those runs
        which domains are being shut down, waited for, started and checked. This option says
        which of those runs this is, and carries what the earlier runs found.
    type: dict
    version_added: 0.2.0
'''
