# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The settings this collection manages: one record per setting, read by every layer.

A setting is what a user asks for with one option (``streaming_mode: filter``,
``image_compression: glz``): its name, its choices, what ``null`` means (always
"leave it as it is"), whether it needs SPICE graphics, whether libvirt can
change it on a running domain, the words messages and the report use for it,
the role variable that carries it and its documentation.  Nothing here talks to
libvirt, lxml or Ansible; the layers that do read these records instead of
naming settings:

* argument specs: :func:`streaming_argument_spec` (the modules) and
  :func:`override_argument_spec` (``libvirt_domain``'s overrides); the role's
  ``meta/argument_specs.yml``, the doc fragment and the info module's RETURN are
  static text that a unit test holds equal to these records;
* null handling: :data:`LEAVE_WHEN_NULL` (``plugin_utils/leave_null.py``);
* the libvirt XML backend (``domain_xml``: read, write, live change) and what a
  domain's XML says (``domain_state``: live gaps), the restart reasons
  (``libvirt_restart``), the info fields (``libvirt_info``), the report's columns
  (``filter/streaming_report.py``), the restore comparison (``domain_restore``);
* the QEMU command-line backend (``qemu_command_line``: the ``-spice`` keys) and
  the ``qemu_args`` filter.

Adding a setting of SPICE ``<graphics>`` is one :class:`GraphicsSetting` in
:data:`SETTINGS` plus its static documentation (the tests say where).
"""

from __future__ import annotations

# spice-server only treats a port as a stream device when its name is exactly
# this (spice server/reds.cpp).
STREAM_PORT_NAME = 'org.spice-space.stream.0'

# The children of SPICE <graphics> in the order libvirt writes them (checked on libvirt
# 9.0: a definition with them in any order is stored in this one), so that an element
# this collection adds goes where libvirt itself would put it.
GRAPHICS_CHILD_ORDER = ('listen', 'channel', 'image', 'jpeg', 'zlib', 'playback', 'streaming',
                        'mouse', 'clipboard', 'filetransfer', 'gl')

# What a running domain is asked to wait for, said the same way for every setting.
COLD_START = 'the next cold start (shut down, then start: a guest reboot is not enough)'


class Setting:
    """What every setting has: how users name it and how the collection speaks of it.

    ``name``: the option (modules, overrides, the info fields, ``restart_required``'s
    ``change``); ``aliases``: other names ``libvirt_domain``'s overrides accept;
    ``label``: the words for it in messages (``the streaming mode``); ``column``: its
    report column; ``role_var`` and ``role_default``: the ``host_streaming`` role's
    variable and its default; ``doc``: the description lines of the option;
    ``version_added``: the release that added it (``None``: the first).
    """

    kind = None
    live = False

    def __init__(self, name, choices, label, column, role_var, doc, role_default=None, aliases=(),
                 version_added=None):
        self.name = name
        self.version_added = version_added
        self.choices = tuple(choices)
        self.label = label
        self.column = column
        self.role_var = role_var
        self.role_default = role_default
        self.doc = tuple(doc)
        self.aliases = tuple(aliases)

    def needs_spice(self, value):
        """Whether asking for ``value`` (``None``: leave it) needs SPICE graphics."""
        return value is not None

    def check(self, value):
        """``None`` when ``value`` is one of the choices (or ``None``), else a sentence."""
        if value is None or value in self.choices:
            return None
        return '%s must be one of %s, not %r' % (self.name, ', '.join(self.choices), value)

    def __repr__(self):
        return '<%s %s>' % (type(self).__name__, self.name)


class GraphicsSetting(Setting):
    """A value carried by one child element of SPICE ``<graphics>`` and one ``-spice`` key.

    ``element``/``attribute``: where libvirt keeps it (``<streaming mode=.../>``);
    ``qemu_key``: the key of QEMU's ``-spice`` option (``streaming-video``), which is
    what libvirt writes on the command line; ``runs_when_absent``: what QEMU runs
    with when neither says anything (QEMU ui/spice-core.c); ``spice_app_forces``:
    the value ``-display spice-app`` sets itself after every ``-spice`` option
    (QEMU ui/spice-app.c), so no other value can take effect there; ``words``: the
    setting in action sentences (``SPICE streaming mode``); ``running``: how a
    domain runs with a value (``streams with mode``).  ``live``: whether libvirt can
    change it on a running domain; for none of these: ``virsh update-device``
    answers "Device updated successfully" and neither the live XML nor QEMU
    changes (libvirt 9.0, QEMU 7.2).  ``summary_key``: its counts in
    ``libvirt_domain_info``'s summary.
    """

    kind = 'graphics'

    def __init__(self, name, choices, element, attribute, qemu_key, runs_when_absent, words, label,
                 column, role_var, doc, running=None, spice_app_forces=None, summary_key=None,
                 role_default=None, aliases=(), version_added=None):
        super().__init__(name, choices, label, column, role_var, doc, role_default, aliases, version_added)
        self.element = element
        self.attribute = attribute
        self.qemu_key = qemu_key
        self.runs_when_absent = runs_when_absent
        self.words = words
        self.noun = words[len('SPICE '):] if words.startswith('SPICE ') else words
        self.running = running or 'runs with %s' % self.noun
        self.spice_app_forces = spice_app_forces
        self.summary_key = summary_key or name

    def effective(self, value):
        """What QEMU runs with when ``value`` is written (``None``: nothing is)."""
        return value if value is not None else self.runs_when_absent

    def shown(self, value):
        """``value`` as written, in words: ``not set (QEMU runs off)`` when nothing is."""
        return 'not set (QEMU runs %s)' % self.runs_when_absent if value is None else value


class DeviceSetting(Setting):
    """The stream channel: a device, not a value (present or absent)."""

    kind = 'device'
    # Hot-plug and hot-unplug where libvirt accepts them (libvirt 9.0: unplug only).
    live = True

    def needs_spice(self, value):
        return value == 'present'


STREAMING_MODE = GraphicsSetting(
    'streaming_mode', ('off', 'all', 'filter'),
    element='streaming', attribute='mode', qemu_key='streaming-video', runs_when_absent='off',
    words='SPICE streaming mode', running='streams with mode', label='the streaming mode',
    column='Streaming mode', role_var='host_streaming_mode', role_default='filter', aliases=('mode',),
    spice_app_forces='off', summary_key='streaming_modes', doc=(
        'SPICE host-side streaming mode, how spice-server itself encodes fast-changing regions.',
        'V(off) never streams, V(all) streams every fast-changing region, V(filter) skips small '
        'window surfaces.',
        'MJPEG is built into spice-server; other codecs need spice-server built with GStreamer.',
        'When omitted or V(null), the mode is left as it is. QEMU treats an absent mode as V(off).',
    ))

IMAGE_COMPRESSION = GraphicsSetting(
    'image_compression', ('auto_glz', 'auto_lz', 'quic', 'glz', 'lz', 'off'),
    element='image', attribute='compression', qemu_key='image-compression',
    runs_when_absent='auto_glz', words='SPICE image compression', label='the image compression',
    column='Image compression', role_var='host_streaming_image_compression', version_added='0.2.0',
    spice_app_forces='off', doc=(
        'How spice-server compresses the images it sends (what is not streamed as video), '
        'libvirt C(<image compression=...>), QEMU C(-spice image-compression=).',
        'V(quic) suits photographic images, V(glz) and V(lz) artificial ones (V(glz) with a '
        'dictionary shared across images, which saves bandwidth and costs memory on both '
        'ends); V(auto_glz) and V(auto_lz) choose per image between QUIC and GLZ or LZ; V(off) '
        'sends images uncompressed.',
        'When omitted or V(null), it is left as it is. QEMU treats an absent setting as V(auto_glz).',
    ))

JPEG_COMPRESSION = GraphicsSetting(
    'jpeg_compression', ('auto', 'never', 'always'),
    element='jpeg', attribute='compression', qemu_key='jpeg-wan-compression',
    runs_when_absent='auto', words='SPICE JPEG compression', label='the JPEG compression',
    column='JPEG compression', role_var='host_streaming_jpeg_compression', version_added='0.2.0', doc=(
        'Whether spice-server re-compresses photographic images lossily as JPEG, libvirt '
        'C(<jpeg compression=...>), QEMU C(-spice jpeg-wan-compression=).',
        'V(auto) does so on a link spice-server measures as slow (WAN), V(always) always, '
        'V(never) never.',
        'When omitted or V(null), it is left as it is. QEMU treats an absent setting as V(auto).',
    ))

ZLIB_COMPRESSION = GraphicsSetting(
    'zlib_compression', ('auto', 'never', 'always'),
    element='zlib', attribute='compression', qemu_key='zlib-glz-wan-compression',
    runs_when_absent='auto', words='SPICE zlib compression', label='the zlib compression',
    column='Zlib compression', role_var='host_streaming_zlib_compression', version_added='0.2.0', doc=(
        'Whether spice-server compresses GLZ-compressed images once more with zlib, libvirt '
        'C(<zlib compression=...>), QEMU C(-spice zlib-glz-wan-compression=).',
        'V(auto) does so on a link spice-server measures as slow (WAN), V(always) always, '
        'V(never) never.',
        'When omitted or V(null), it is left as it is. QEMU treats an absent setting as V(auto).',
    ))

PLAYBACK_COMPRESSION = GraphicsSetting(
    'playback_compression', ('on', 'off'),
    element='playback', attribute='compression', qemu_key='playback-compression',
    runs_when_absent='on', words='SPICE playback compression', label='the playback compression',
    column='Playback compression', role_var='host_streaming_playback_compression', version_added='0.2.0', doc=(
        'Whether spice-server compresses the audio it plays to the client, libvirt '
        'C(<playback compression=...>), QEMU C(-spice playback-compression=).',
        'When omitted or V(null), it is left as it is. QEMU treats an absent setting as V(on).',
    ))

AGENT_CHANNEL = DeviceSetting(
    'agent_channel', ('present', 'absent'), label='the stream channel', column='Stream channel',
    role_var='host_streaming_agent_channel', role_default='present', doc=(
        'Whether the virtio-serial port C(org.spice-space.stream.0), which '
        'C(spice-streaming-agent) in the guest writes its encoded stream to, is there.',
        'V(present) makes sure there is a virtio-serial controller and exactly one C(spiceport) '
        'channel of that name. V(absent) removes that channel only; the controller stays, other '
        'channels may use it.',
        'When omitted or V(null), the channel is left as it is.',
    ))

# Every setting, in the order options are documented and values are written.
SETTINGS = (STREAMING_MODE, IMAGE_COMPRESSION, JPEG_COMPRESSION, ZLIB_COMPRESSION,
            PLAYBACK_COMPRESSION, AGENT_CHANNEL)
GRAPHICS_SETTINGS = tuple(setting for setting in SETTINGS if setting.kind == 'graphics')
BY_NAME = {setting.name: setting for setting in SETTINGS}
NAMES = tuple(BY_NAME)

# The options whose null means "leave it as it is", aliases included; in libvirt_domain's
# overrides, null means "the task's value".
LEAVE_WHEN_NULL = NAMES + tuple(alias for setting in SETTINGS for alias in setting.aliases)


def setting(name):
    """The record named ``name``; KeyError names the known settings."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError('no setting named %r; the settings are %s' % (name, ', '.join(NAMES))) from None


def streaming_argument_spec():
    """Argument spec of the options every streaming plugin shares.

    Every option defaults to ``None``: an omitted option means "leave that part
    as it is".  An explicit ``null`` means the same; AnsibleModule would refuse it
    as no choice, so the modules' action plugins drop it before the module runs
    (``plugin_utils/leave_null.py``).
    """
    return {setting.name: dict(type='str', choices=list(setting.choices)) for setting in SETTINGS}


def override_argument_spec():
    """Suboptions of ``libvirt_domain``'s ``overrides``: a name list and every setting."""
    spec = dict(name=dict(type='list', elements='str', required=True))
    for item in SETTINGS:
        spec[item.name] = dict(type='str', choices=list(item.choices))
        if item.aliases:
            spec[item.name]['aliases'] = list(item.aliases)
    return spec


def overrides_argument_spec():
    """Argument spec of ``overrides``: per-domain exceptions, as in ``libvirt_domain``.

    In an override, a null (or left out) setting means "the task's value"
    (``libvirt_streaming.override_requests``).
    """
    return dict(type='list', elements='dict', default=[], options=override_argument_spec())


def values_from(params):
    """``{setting name: value}`` for every setting, from a dict that may lack some (``None``)."""
    return {name: params.get(name) for name in NAMES}


def check_values(values):
    """Sentences for unknown settings and values outside the choices; empty when all is well."""
    problems = ['there is no setting named %r (the settings are %s)' % (name, ', '.join(NAMES))
                for name in values if name not in BY_NAME]
    problems.extend(filter(None, (BY_NAME[name].check(value) for name, value in values.items()
                                  if name in BY_NAME)))
    return problems


# What a role variable (or an inventory value) holds when it means "leave it as it is":
# null, "null" as -e gives it, and the empty string.
LEAVE_VALUES = (None, '', 'null')

# YAML 1.1 reads a bare off/on (and no/yes) as a boolean.
_YAML_BOOLEANS = {False: ('off', 'no'), True: ('on', 'yes')}


def role_value_problem(item, value):
    """A short sentence when a role variable's ``value`` is not one ``item`` takes, else None.

    Says the allowed values, that null leaves it as it is, and what was probably meant:
    a bare ``off`` that YAML read as false, or the right value in other letter case.
    """
    if value in LEAVE_VALUES or (isinstance(value, str) and value in item.choices):
        return None
    sentence = "%s is '%s': it must be one of %s, or null to leave %s as it is" % (
        item.role_var, value, ', '.join(item.choices), item.label)
    if isinstance(value, bool):
        meant = [word for word in _YAML_BOOLEANS[value] if word in item.choices]
        if meant:
            return sentence + " (YAML reads a bare %s as %s: write '%s', quoted)." % (
                meant[0], str(value).lower(), meant[0])
    if str(value).lower() in item.choices:
        return sentence + " (did you mean '%s'?)." % str(value).lower()
    return sentence + '.'


def role_value_problems(values):
    """:func:`role_value_problem` for ``{setting name: value}``, in the registry's order."""
    return [problem for problem in (role_value_problem(item, values[item.name]) for item in SETTINGS
                                    if item.name in values) if problem]


def needs_spice(values):
    """Whether any value asked for needs SPICE graphics."""
    return any(BY_NAME[name].needs_spice(value) for name, value in values.items())


def changes_words(names):
    """The labels of ``names`` (settings, in any order, repeats allowed), joined: restart reasons."""
    labels = []
    for name in names:
        label = BY_NAME[name].label if name in BY_NAME else name
        if label not in labels:
            labels.append(label)
    return ' and '.join(labels)
