# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the stream_agent role does on one guest, decided from data alone.

``plan(inputs, facts, platforms, package=None, so_far=...)`` turns the role's inputs, the
guest's facts and the platform table (the role's ``vars/<platform>.yml`` files) into the plan
the role's tasks carry out: where the agent package comes from and which tool installs it, the
codec (refused, or kept on MJPEG), the GStreamer packages, the agent's options in the installed
version's syntax and its ``Exec=`` line, and the files to write or edit.  What cannot work is
``refusal``: one message naming the guest, with which the tasks fail before touching it.

The role calls it twice per run and the same code decides both times: before anything on the
guest changes (no package yet), then with the package's name, version and file list
(``package``), which tell whether it has the GStreamer plugin and which option syntax it reads.

No I/O here: the role reads its platform files, the controller and the guest, and passes what
it read.  The filter ``spice.streaming.stream_agent_plan`` exposes this to the role.
"""

from __future__ import annotations

import re

PREFIX = '__stream_agent_'
# What a platform file may set (without the prefix), and the value when no file of the guest's
# sets it.  Rows merge like the linux-system-roles vars files they are: a later file's keys
# replace an earlier one's.
ROW_DEFAULTS = {
    # Set in the file of each supported platform (Debian_12.yml, RedHat_9.yml, Fedora.yml...).
    'supported': False,
    # How the list of supported platforms names them, read from the file named like the
    # distribution (RedHat.yml says RHEL): the name, its rebuilds, and the os_family of a
    # distribution named otherwise (Ubuntu.yml: Debian), whose file it then reads first.
    'name': None,
    'rebuilds': [],
    'os_family': None,
    # The tool that installs packages and package files with their dependencies, the package
    # format it takes, and whether its package lists go stale until refreshed (apt's do; dnf
    # refreshes its metadata itself): those are refreshed only when an install lacks a package.
    'package_tool': None,
    'package_format': None,
    'refresh_lists': False,
    # The distribution's agent package (none: stream_agent_package is needed), the
    # architectures it is built for (empty: every one the repositories carry) and where to
    # enable it.
    'distribution_package': None,
    'distribution_arches': [],
    'repository_hint': None,
    # GDM's configuration file, where WaylandEnable=false goes.
    'gdm_config': None,
    # GStreamer packages for each codec's encoder (a codec missing here has no encoder the
    # distribution ships), and codec -> why the agent's GStreamer plugin cannot stream it here.
    'gst_packages': {},
    'gst_broken': {},
    # Name and version of a package file ($1) or of the installed package ($1), then its file
    # list: one command, as every module run costs seconds on a slow guest.
    'read_file': None,
    'read_installed': None,
}

CODECS = ('mjpeg', 'h264', 'vp8', 'vp9', 'h265')
# The virtio-serial port QEMU gives the guest for the hypervisor's stream channel.
PORT = '/dev/virtio-ports/org.spice-space.stream.0'
# Where package files from the controller or a URL are kept on the guest, so a second run
# finds the same file and installs nothing.
PACKAGE_CACHE = '/var/cache/spice-streaming-agent'
# Files as upstream installs them (data/ and meson.build of spice-streaming-agent).
BINARY = '/usr/bin/spice-streaming-agent'
UDEV_RULE = '/etc/udev/rules.d/90-spice-guest-streaming.rules'
SESSION_AUTOSTART = '/etc/xdg/autostart/spice-streaming.desktop'
GREETER_AUTOSTART = '/usr/share/gdm/greeter/autostart/spice-streaming.desktop'
# The X server's exec type, which lets the agent run in the session's SELinux domain (what the
# RHEL package's %post gives it).
SELINUX_TYPE = 'xserver_exec_t'
# Package file paths that mean "the package ships this part already".
SHIPPED_UDEV = re.compile(r'^(/usr)?/lib/udev/rules\.d/.*spice.*stream.*\.rules$')
SHIPPED_SESSION = re.compile(r'^/etc/xdg/autostart/.*\.desktop$')
SHIPPED_GREETER = re.compile(r'^/usr/share/gdm/greeter/autostart/.*\.desktop$')
SHIPPED_PLUGIN = re.compile(r'/spice-streaming-agent/plugins/[^/]+\.so$')
SHIPPED_BINARY = re.compile(r'/bin/spice-streaming-agent$')
# dpkg-deb --contents prints tar's long listing ("-rwxr-xr-x root/root 123 2024-01-01 00:00
# ./usr/bin/x"); rpm and dpkg-query print bare paths, which this leaves alone.
LISTING_PREFIX = re.compile(r'^(\S+\s+){5}\.(?=/)')
# Characters an option value may carry: the agent splits on '=', ',' and ':', and the
# autostart Exec= line would need quoting for anything else.
SAFE_VALUE = re.compile(r'[A-Za-z0-9_.+/@-]+')
URL = re.compile(r'(https?|ftp)://')
# Release 0.3 and everything before it read gst.codec=, gst.encoder= and gst.prop=; later code
# (0.3+git..., 0.3^..., 0.3.1, 0.4) reads gst.CODEC=ENCODER:prop=value,...
LEGACY_VERSION = re.compile(r'^0\.([0-2]([^0-9].*)?|3(~.*)?)$')
NOTHING_CHANGED = 'Nothing was changed.'


class PlanError(ValueError):
    """The platform table or the call is wrong (a bug to fix in the role, not a refusal)."""


# The platform table

def platform_table(files):
    """``{stem: row}`` from the platform files, given as ``{stem: the variables it sets}``.

    A variable that is not a platform setting fails, naming the file: a typo in a new
    platform's file would otherwise be ignored silently.
    """
    table = {}
    for stem, variables in files.items():
        row = {}
        for name, value in (variables or {}).items():
            key = name[len(PREFIX):] if name.startswith(PREFIX) else None
            if key not in ROW_DEFAULTS:
                raise PlanError('the stream_agent platform file vars/%s.yml sets %s, which is not a platform '
                                'setting (%s)' % (stem, name, ', '.join(PREFIX + key for key in ROW_DEFAULTS)))
            row[key] = value
        table[stem] = row
    return table


def _stem(name, version=None):
    if name in (None, '') or version == '':
        return None
    return '%s_%s' % (name, version) if version is not None else str(name)


def platform_files(facts):
    """The platform files a guest reads, least specific first: ``<os_family>``,
    ``<os_family>_<major>``, ``<distribution>``, ``<distribution>_<major>``,
    ``<distribution>_<version>`` (RHEL's rebuilds share os_family RedHat, so ``RedHat_8``
    serves RHEL, CentOS, AlmaLinux and Rocky Linux 8)."""
    family, distribution = facts.get('os_family'), facts.get('distribution')
    major, version = facts.get('distribution_major_version'), facts.get('distribution_version')
    stems = []
    for stem in (_stem(family), _stem(family, major), _stem(distribution), _stem(distribution, major),
                 _stem(distribution, version)):
        if stem and stem not in stems:
            stems.append(stem)
    return stems


def platform_row(table, facts):
    """The files of ``table`` the guest reads, and the row they make together."""
    stems = [stem for stem in platform_files(facts) if stem in table]
    row = dict(ROW_DEFAULTS)
    for stem in stems:
        row.update(table[stem])
    return stems, row


def _version_key(version):
    """``'22.04'`` -> ``((0, 22), (0, 4))``: numbers in numeric order, words after them."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r'[._-]', version or '') if part)


def _and(words):
    words = list(words)
    return words[0] if len(words) == 1 else '%s and %s' % (', '.join(words[:-1]), words[-1])


def _article(package_format):
    """``a .deb``, ``an .rpm``: as the letters are said."""
    return 'an' if str(package_format)[:1].lower() in 'aefhilmnorsx' else 'a'


def _source_note(row):
    kind = '%s .%s' % (_article(row['package_format']), row['package_format'])
    if row['distribution_package']:
        return "the distribution's %s, or stream_agent_package, %s" % (row['distribution_package'], kind)
    return 'with stream_agent_package, %s' % kind


def supported_platforms(table):
    """The supported platforms in one phrase, for the refusal and the documentation: every
    file that sets ``supported``, by name, each group of names followed by where their agent
    package comes from.

    Each family's own distribution comes before the distributions named otherwise (Debian
    before Ubuntu, RHEL before Fedora), versions in numeric order.
    """
    entries = []
    for stem, own in table.items():
        if not own.get('supported'):
            continue
        base, _sep, version = stem.partition('_')
        named = table.get(base, {})
        family = named.get('os_family') or base
        facts = {'os_family': family, 'distribution': base,
                 'distribution_major_version': version.split('.')[0] if version else None,
                 'distribution_version': version or None}
        row = platform_row(table, facts)[1]
        entries.append(((family, base != family, base, _version_key(version)),
                        _source_note(row), named.get('name') or base, version, named.get('rebuilds') or []))
    entries.sort(key=lambda entry: entry[0])

    groups = []   # [(note, [(name, [versions], rebuilds)])]
    for _key, note, name, version, rebuilds in entries:
        if not groups or groups[-1][0] != note:
            groups.append((note, []))
        names = groups[-1][1]
        if not names or names[-1][0] != name:
            names.append((name, [], rebuilds))
        names[-1][1].append(version)
    said = []
    for note, names in groups:
        for name, versions, rebuilds in names:
            words = name if '' in versions else '%s %s' % (name, _and(versions))
            if rebuilds:
                words += ' and their rebuilds (%s)' % ', '.join(rebuilds)
            said.append(words)
        said[-1] += ' (%s)' % note   # where the packages come from, after the last of the group
    return _and(said) if said else 'no guest'


# The plan

INPUTS = ('guest', 'domain', 'hypervisor', 'package', 'package_shown', 'package_found', 'package_found_is_file',
          'codec', 'encoder', 'encoder_properties', 'framerate', 'extra_options', 'codec_fallback',
          'option_syntax')


def read_package(lines):
    """``{name, version, files}`` from the platform's read command: name, version, file list."""
    lines = list(lines)
    if len(lines) < 2:
        raise PlanError('the package read printed %r, not its name and version' % (lines,))
    files = [re.sub(r' -> .*$', '', LISTING_PREFIX.sub('', line)) for line in lines[2:]]
    return {'name': lines[0], 'version': lines[1], 'files': files}


def option_syntax(version, asked='auto'):
    """``legacy`` (release 0.3 and earlier) or ``per_codec``, from the package version; the
    epoch and the distribution revision do not count."""
    if asked != 'auto':
        return asked
    upstream = re.sub(r'-[^-]*$', '', re.sub(r'^[0-9]+:', '', version))
    return 'legacy' if LEGACY_VERSION.match(upstream) else 'per_codec'


def _safe(value):
    return SAFE_VALUE.fullmatch(str(value)) is not None


def _inputs_fit(inputs):
    encoder, properties, extra = inputs['encoder'], inputs['encoder_properties'], inputs['extra_options']
    framerate = inputs['framerate']
    try:
        framerate_fits = framerate is None or 1 <= int(framerate) <= 100
    except (TypeError, ValueError):
        framerate_fits = False
    return ((encoder is None or _safe(encoder))
            and all(_safe(name) and _safe(value) for name, value in list(properties.items()) + list(extra.items()))
            and (not properties or encoder is not None)
            and inputs['codec'] in CODECS
            and framerate_fits)


def _guest_label(inputs):
    hypervisor = inputs['hypervisor']
    where = ', on hypervisor %s' % hypervisor if hypervisor else ''
    return 'Guest %s (domain %s%s)' % (inputs['guest'], inputs['domain'], where)


def _package_format_given(package):
    match = re.search(r'\.(deb|rpm)$', re.sub(r'[?#].*$', '', package or ''))
    return match.group(1) if match else 'other'


def _codec_problem(inputs, row, facts, gst, package):
    """Why the codec asked for cannot stream on this guest, or ''."""
    codec = inputs['codec']
    if not gst:
        return ''
    if codec in row['gst_broken']:
        return row['gst_broken'][codec]
    if codec not in row['gst_packages']:
        return 'no package of %s carries a GStreamer %s encoder' % (facts.get('distribution'), codec)
    if package is not None and not any(SHIPPED_PLUGIN.search(path) for path in package['files']):
        return ('the package %s %s has no GStreamer plugin (spice-streaming-agent/plugins/*.so), so it encodes MJPEG '
                'with its built-in encoder only' % (package['name'], package['version']))
    return ''


def _gst_options(inputs, codec, syntax):
    encoder = inputs['encoder']
    properties = ['%s=%s' % item for item in inputs['encoder_properties'].items()]
    if syntax == 'legacy':
        return (['gst.codec=' + codec] + (['gst.encoder=' + encoder] if encoder else [])
                + ['gst.prop=' + prop for prop in properties])
    return ['gst.%s=%s%s' % (codec, encoder or 'auto', (':' + ','.join(properties)) if properties else '')]


def _agent(inputs, codec, gst, package):
    """How the installed package is started and which session files the role writes or edits."""
    files = package['files']
    has_plugin = any(SHIPPED_PLUGIN.search(path) for path in files)
    binary = next((path for path in files if SHIPPED_BINARY.search(path)), BINARY)
    syntax = option_syntax(package['version'], inputs['option_syntax'])
    options = ((['framerate=%s' % inputs['framerate']] if inputs['framerate'] else [])
               + (_gst_options(inputs, codec, syntax) if gst else [])
               + ['%s=%s' % item for item in inputs['extra_options'].items()])
    # Built-in MJPEG with a GStreamer plugin installed: the plugin outranks the built-in encoder
    # and, left alone, picks H.264 (0.3) or VP8 (later) whenever the client takes them, which is
    # the Debian 12 trap. The agent globs PLUGINS_DIR/*.so, which matches nothing under /dev/null.
    plugins_off = ['--plugins-dir=/dev/null'] if has_plugin and not gst else []
    shipped_session = [path for path in files if SHIPPED_SESSION.match(path)]
    shipped_greeter = [path for path in files if SHIPPED_GREETER.match(path)]
    return {
        'package': package['name'],
        'version': package['version'],
        'option_syntax': syntax,
        'binary': binary,
        'gstreamer_plugin': has_plugin,
        'options': options,
        'exec': ' '.join([binary] + plugins_off + ['-c ' + option for option in options]),
        # The package's own entries stay the package's: only their Exec= line carries the options.
        'autostart_edit': shipped_session + shipped_greeter,
        'autostart_write': (([] if shipped_session else [SESSION_AUTOSTART])
                            + ([] if shipped_greeter else [GREETER_AUTOSTART])),
        'udev_rule_write': not any(SHIPPED_UDEV.match(path) for path in files),
    }


def _refusal(inputs, facts, table, row, source):
    """The first reason the guest cannot get the agent as asked, from facts and inputs alone."""
    guest, system = _guest_label(inputs), _system(facts)
    package = inputs['package']
    if not row['supported']:
        return ('%s runs %s, which the stream_agent role does not support. It supports %s. %s'
                % (guest, system, supported_platforms(table), NOTHING_CHANGED))
    if not _inputs_fit(inputs):
        return ('%s: stream_agent_encoder, stream_agent_encoder_properties and stream_agent_extra_options take names '
                'and values made of letters, digits and . _ + / @ - (the agent splits on = , and :), and encoder '
                'properties need stream_agent_encoder (the element they belong to); stream_agent_framerate is 1 to '
                '100. %s' % (guest, NOTHING_CHANGED))
    package_format = row['package_format']
    kind = '%s .%s' % (_article(package_format), package_format)
    if source == 'none':
        return ('%s runs %s, which ships no spice-streaming-agent package. Set stream_agent_package to %s built for '
                'it (a path on the controller or a URL). %s' % (guest, system, kind, NOTHING_CHANGED))
    if source == 'file' and _package_format_given(package) != package_format:
        return ('%s runs %s, which installs .%s packages with %s, but stream_agent_package is %s. Give %s built for '
                'it. %s' % (guest, system, package_format, row['package_tool'], inputs['package_shown'], kind,
                            NOTHING_CHANGED))
    if source == 'file' and not URL.match(package) and not inputs['package_found_is_file']:
        found = inputs['package_found']
        return ('%s: stream_agent_package %s is not a file on the controller%s. Give the path of the .%s on the '
                'controller, absolute or relative to the playbook (or in its files/ directory), or an http(s) or ftp '
                'URL. %s' % (guest, package, ' (%s is a directory)' % found if found else '', package_format,
                             NOTHING_CHANGED))
    arches = row['distribution_arches']
    if source == 'distribution' and arches and facts.get('architecture') not in arches:
        return ('%s runs %s; its distribution builds %s for %s only. Set stream_agent_package to a package built for '
                '%s. %s' % (guest, system, row['distribution_package'], ', '.join(arches), facts.get('architecture'),
                            NOTHING_CHANGED))
    return None


def _system(facts):
    return '%s %s (%s)' % (facts.get('distribution'), facts.get('distribution_version'), facts.get('architecture'))


def _selinux_label(facts):
    selinux = facts.get('selinux') or {}
    if isinstance(selinux, dict) and selinux.get('status') == 'enabled' and selinux.get('mode') == 'enforcing':
        return SELINUX_TYPE
    return None


def plan(inputs, facts, platforms, package=None, so_far=NOTHING_CHANGED):
    """The plan for one guest (see the module's docstring).

    ``inputs``: the role's inputs (``INPUTS``: ``package`` is ``stream_agent_package`` as given,
    ``package_shown`` as printed, ``package_found`` where the controller has it and
    ``package_found_is_file`` whether that is a file); ``facts``: the guest's facts
    (distribution, versions, os_family, architecture, selinux); ``platforms``: ``{stem: the
    variables vars/<stem>.yml sets}``; ``package``: the lines the platform's read command printed,
    once the package can be read; ``so_far``: what a refusal at that point says was changed.
    """
    missing = [name for name in INPUTS if name not in inputs]
    if missing:
        raise PlanError('the plan needs the inputs %s' % ', '.join(missing))
    inputs = dict(inputs, encoder_properties=dict(inputs['encoder_properties'] or {}),
                  extra_options=dict(inputs['extra_options'] or {}))
    table = platform_table(platforms)
    stems, row = platform_row(table, facts)
    read = read_package(package) if package is not None else None
    package_given = inputs['package']
    source = 'file' if package_given else 'distribution' if row['distribution_package'] else 'none'
    is_url = bool(package_given) and URL.match(package_given) is not None
    package_path = ('%s/%s' % (PACKAGE_CACHE, re.sub(r'[?#].*$', '', package_given).rsplit('/', 1)[-1])
                    if source == 'file' else None)
    result = {
        'guest': inputs['guest'],
        'domain': inputs['domain'],
        'hypervisor': inputs['hypervisor'],
        'label': _guest_label(inputs),
        'distribution': _system(facts),
        'platform_files': ['vars/%s.yml' % stem for stem in stems],
        'refusal': _refusal(inputs, facts, table, row, source),
        'package_source': source,
        'package': inputs['package_shown'] if source == 'file' else row['distribution_package'],
        'package_tool': row['package_tool'],
        'package_format': row['package_format'],
        'package_is_url': is_url,
        'package_src': inputs['package_found'] if source == 'file' and not is_url else None,
        'package_cache': PACKAGE_CACHE,
        'package_path': package_path,
        # What the package tool installs, and the package read takes: the file, or the name.
        'install_name': package_path if source == 'file' else row['distribution_package'],
        # apt installs a package file with deb=, every other tool with name=.
        'install_deb': source == 'file' and row['package_format'] == 'deb',
        'refresh_lists': bool(row['refresh_lists']),
        'repository_hint': row['repository_hint'],
        'package_read_command': row['read_file'] if source == 'file' else row['read_installed'],
        'port': PORT,
        'udev_rule': UDEV_RULE,
        'session_autostart': SESSION_AUTOSTART,
        'greeter_autostart': GREETER_AUTOSTART,
        'gdm_config': row['gdm_config'],
        'selinux_label': _selinux_label(facts),
        'agent': None,
    }
    # MJPEG is the agent's built-in encoder unless an encoder element asks for GStreamer's.
    codec, gst = inputs['codec'], inputs['codec'] != 'mjpeg' or inputs['encoder'] is not None
    codec_warning = ''
    if result['refusal'] is None:
        problem = _codec_problem(inputs, row, facts, gst, read)
        if problem and not inputs['codec_fallback']:
            # An agent that connects and streams nothing is worse than none.
            result['refusal'] = (
                '%s runs %s: stream_agent_codec %s%s cannot work there: %s. Choose another stream_agent_codec (mjpeg '
                'always works), or set stream_agent_codec_fallback: true to keep such guests on MJPEG. %s'
                % (result['label'], result['distribution'], codec,
                   ' with encoder %s' % inputs['encoder'] if inputs['encoder'] else '', problem, so_far))
        elif problem:
            codec_warning = ('stream_agent_codec %s cannot work on %s (%s); the agent streams MJPEG with its built-in '
                             'encoder instead.' % (codec, result['distribution'], problem))
            codec, gst = 'mjpeg', False
    # The GStreamer plugin reads framerate only into the caps it gives the encoder and sends each
    # frame as soon as it is encoded (upstream src/gst-plugin.cpp; seen here: a frame every
    # 11-20 ms with framerate=5); only the built-in MJPEG encoder waits between frames.
    framerate_warning = (
        "stream_agent_framerate %s does not limit the frame rate of %s through the agent's GStreamer plugin, which "
        "sends frames as fast as it captures and encodes them; the value only reaches the encoder as the stream's "
        'nominal rate. Only the built-in MJPEG encoder (stream_agent_codec mjpeg without stream_agent_encoder) keeps '
        'to it.' % (inputs['framerate'], codec)) if inputs['framerate'] and gst else ''
    result.update({
        'codec': codec,
        'codec_warning': codec_warning,
        'warnings': [warning for warning in (codec_warning, framerate_warning) if warning],
        'gstreamer': gst,
        'gstreamer_packages': list(row['gst_packages'].get(codec, [])) if gst else [],
    })
    result.update(_install_failures(result, row))
    if read is not None and result['refusal'] is None:
        result['agent'] = _agent(inputs, codec, gst, read)
    return result


def _install_failures(result, row):
    """What an install that fails says before the tool's own error, and after it."""
    tool = result['package_tool']
    if result['package_source'] == 'distribution':
        advice = ('Enable the repository that has it%s or set stream_agent_package to a package built for this guest.'
                  % (' (%s)' % row['repository_hint'] if row['repository_hint'] else ''))
    else:
        advice = ('Check the guest can reach repositories with its dependencies, or give a package built for %s. The '
                  'package file is kept in %s; the package is not installed.'
                  % (result['distribution'], result['package_path']))
    return {
        'install_failure': '%s runs %s; %s could not install %s' % (
            result['label'], result['distribution'], tool, result['package']),
        'install_advice': advice,
        'gstreamer_failure': "%s: %s could not install %s, which the agent's GStreamer plugin needs for %s" % (
            result['label'], tool, ', '.join(result['gstreamer_packages']), result['codec']),
    }
