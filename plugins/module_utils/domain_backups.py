# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup files of domain definitions: their names, writing them, finding them again.

No libvirt and no Ansible here, only the file system.  ``libvirt_domain`` writes
a backup of each definition before it changes it; ``libvirt_domain_restore``
finds them again by the domain's UUID and puts one back.

A backup file is named ``<prefix>.<uuid>.<stamp>.xml``:

* ``prefix``: the domain name made safe for any file system and short: every
  character outside ``A-Z a-z 0-9 . _ + -`` becomes ``_``, leading dots are
  dropped, and at most 64 characters are kept.  Only a help for people who list
  the directory; the full name is inside the file, which is the domain XML;
* ``uuid``: the domain's UUID, which identifies it even after a rename;
* ``stamp``: when the backup was written, in UTC, ``YYYYmmddTHHMMSS.ffffffZ``.

So a name is at most 64 + 1 + 36 + 1 + 23 + 4 = 129 bytes whatever the domain
name (libvirt allows 247 bytes, any character but ``/`` in the QEMU driver),
well under the 255 bytes file systems allow.  ``libvirt_domain_restore`` keeps
the definition it replaces as ``<prefix>.<uuid>.<stamp>.before-restore.xml``, which a
later restore never picks.  Files of 0.1.0 (``<name>.<local time stamp>.xml``)
are still found: they are read to learn their UUID.
"""

from __future__ import annotations

import datetime
import errno
import os
import pwd
import re
import tempfile

PREFIX_MAX = 64
ROLLOUT = 'rollout'
BEFORE_RESTORE = 'before-restore'
_STAMP_FORMAT = '%Y%m%dT%H%M%S.%fZ'
_UUID = r'[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}'
_FILE = re.compile(r'^(?P<prefix>[A-Za-z0-9._+-]+)\.(?P<uuid>%s)\.(?P<stamp>\d{8}T\d{6}\.\d{6}Z)'
                   r'(?P<kind>\.before-restore)?\.xml$' % _UUID)
# What libvirt_domain 0.1.0 wrote: the name with '/' replaced, and the local time.
_LEGACY_FILE = re.compile(r'^(?P<name>.+)\.(?P<stamp>\d{8}T\d{6}\.\d{6})\.xml$')
_XML_UUID = re.compile(r'<uuid>\s*(%s)\s*</uuid>' % _UUID)
_XML_NAME = re.compile(r'<name>([^<]*)</name>')
_UNSAFE = re.compile(r'[^A-Za-z0-9._+-]')


def file_prefix(name):
    """The readable start of a backup file name: ``name`` made safe and short."""
    prefix = _UNSAFE.sub('_', name).lstrip('.')[:PREFIX_MAX]
    return prefix or 'domain'


def uuid_of(xml_text):
    """The UUID written in a definition, lower case; None when it has none."""
    match = _XML_UUID.search(xml_text)
    return match.group(1).lower() if match else None


def name_of(xml_text):
    """The domain name written in a definition (XML entities decoded); None when it has none."""
    match = _XML_NAME.search(xml_text)
    if not match:
        return None
    return (match.group(1).replace('&lt;', '<').replace('&gt;', '>').replace('&quot;', '"')
            .replace('&apos;', "'").replace('&amp;', '&'))


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def format_stamp(when):
    return when.astimezone(datetime.timezone.utc).strftime(_STAMP_FORMAT)


def backup_file_name(name, uuid, when, kind=ROLLOUT):
    return '%s.%s.%s%s.xml' % (file_prefix(name), uuid or '00000000-0000-0000-0000-000000000000',
                               format_stamp(when), '.before-restore' if kind == BEFORE_RESTORE else '')


def write_backup(directory, name, xml_text, kind=ROLLOUT, when=None):
    """Write ``xml_text`` into ``directory`` (made 0700 if missing), owner-only; its path.

    The file appears whole or not at all (a temporary file, then a rename).
    """
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = os.path.join(directory, backup_file_name(name, uuid_of(xml_text), when or utc_now(), kind))
    # Written with the secure flag, the definition may hold passwords: owner only.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.%s.' % file_prefix(name), suffix='.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            handle.write(xml_text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# ---------------------------------------------------------------- is the directory usable


def _mount_point(path):
    path = os.path.realpath(path)
    device = os.stat(path).st_dev
    while path != os.path.dirname(path):
        parent = os.path.dirname(path)
        if os.stat(parent).st_dev != device:
            break
        path = parent
    return path


def _read_only_mount(path):
    """The mount point when ``path`` is on a read-only mount, else None."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return _mount_point(path)
    except OSError:
        return None
    return None


def _user():
    uid = os.geteuid()
    try:
        return '%s (uid %d)' % (pwd.getpwuid(uid).pw_name, uid)
    except KeyError:
        return 'uid %d' % uid


def _owner_and_mode(path):
    info = os.stat(path)
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = 'uid %d' % info.st_uid
    return 'owned by %s, mode %04o' % (owner, info.st_mode & 0o7777)


def _probe_write(directory):
    """Create and remove a file in ``directory``; the OSError it raised, or None."""
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix='.probe.', suffix='.tmp')
    except OSError as err:
        return err
    os.close(fd)
    os.unlink(tmp)
    return None


def _why_not_writable(directory, what, probe, option):
    """Why ``directory`` takes no new file, as words; None when it does."""
    mount = _read_only_mount(directory)
    if mount is not None:
        return ('%s is on a read-only file system (%s is mounted read-only): remount it read-write, '
                'or point %s at a directory on a writable file system' % (what, mount, option))
    if not os.access(directory, os.W_OK | os.X_OK):
        if os.geteuid() == 0:
            return ('%s refuses writes even to root (an immutable attribute, see lsattr -d, a '
                    'root-squashed network share, or a security policy): lift that, or point '
                    '%s at another directory' % (what, option))
        return ('%s is not writable by %s, the user the task runs as (%s): run the task as root '
                '(become: true), or point %s at a directory that user may write'
                % (what, _user(), _owner_and_mode(directory), option))
    err = _probe_write(directory) if probe else None
    if err is None:
        return None
    if err.errno == errno.EROFS:
        return ('%s is on a read-only file system: remount it read-write, or point %s at a '
                'directory on a writable file system' % (what, option))
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return '%s has no room for a file (%s): free some space, or point %s elsewhere' % (
            what, err.strerror, option)
    if err.errno in (errno.EACCES, errno.EPERM):
        return ('%s refuses new files to %s (%s; %s): %s, or point %s elsewhere' % (
            what, _user(), err.strerror, _owner_and_mode(directory),
            'an immutable attribute (lsattr -d), a root-squashed network share or a security '
            'policy such as SELinux stops even root; lift it'
            if os.geteuid() == 0 else 'run the task as root (become: true)', option))
    return '%s takes no new file (%s): point %s elsewhere' % (what, err.strerror or err, option)


def backup_dir_problem(path, host, probe=False, option='backup_dir'):
    """Why ``path`` cannot take backups on ``host``, as a sentence naming both; None when it can.

    Nothing is written unless ``probe``: then a file is created in an existing
    directory and removed again, which finds what no permission bit shows (a full
    disk, a security policy).  A missing directory is never created here.  ``option``:
    what the caller calls ``backup_dir``, for the advice.
    """
    where = '%s on %s' % (path, host)
    if os.path.islink(path) and not os.path.exists(path):
        return ('%s is a symbolic link to %s, which does not exist; point %s at a directory'
                % (where, os.readlink(path), option))
    if os.path.exists(path):
        if not os.path.isdir(path):
            return '%s exists and is not a directory; point %s at a directory' % (where, option)
        why = _why_not_writable(path, 'the directory', probe, option)
        return None if why is None else '%s cannot take backups: %s' % (where, why)
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return ('%s does not exist and cannot be created: %s is not a directory; point %s '
                'at a directory' % (where, parent, option))
    why = _why_not_writable(parent, 'its parent %s' % parent, False, option)
    return None if why is None else '%s does not exist and cannot be created: %s' % (where, why)


# ---------------------------------------------------------------- finding backups again


class BackupFile:
    """One backup file: where, of which domain (UUID), when, and what kind."""

    __slots__ = ('path', 'uuid', 'when', 'kind', 'prefix')

    def __init__(self, path, uuid, when, kind=ROLLOUT, prefix=None):
        self.path = path
        self.uuid = uuid
        self.when = when
        self.kind = kind
        self.prefix = prefix

    @property
    def stamp(self):
        return format_stamp(self.when)

    @property
    def written(self):
        """When it was written, for people: ``2026-11-24 10:15:00 UTC``."""
        return self.when.astimezone(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')

    def read(self):
        with open(self.path, encoding='utf-8') as handle:
            return handle.read()

    def __repr__(self):
        return 'BackupFile(%r)' % self.path


def _legacy(path, match):
    """A 0.1.0 backup: its UUID is only inside; its stamp is the hypervisor's local time."""
    try:
        with open(path, encoding='utf-8') as handle:
            uuid = uuid_of(handle.read(4096))
    except (OSError, UnicodeDecodeError):
        return None
    if uuid is None:
        return None
    when = datetime.datetime.strptime(match.group('stamp'), '%Y%m%dT%H%M%S.%f').astimezone()
    return BackupFile(path, uuid, when, prefix=file_prefix(match.group('name')))


class BackupIndex:
    """The backups of one directory, by domain UUID, oldest first."""

    def __init__(self, directory):
        self.directory = directory
        self.by_uuid = {}
        self.before_restore = {}
        if not os.path.isdir(directory):
            return
        for entry in sorted(os.listdir(directory)):
            if entry.startswith('.'):
                continue
            path = os.path.join(directory, entry)
            match = _FILE.match(entry)
            if match:
                when = datetime.datetime.strptime(match.group('stamp'), _STAMP_FORMAT).replace(
                    tzinfo=datetime.timezone.utc)
                backup = BackupFile(path, match.group('uuid').lower(), when,
                                    BEFORE_RESTORE if match.group('kind') else ROLLOUT, match.group('prefix'))
            else:
                legacy = _LEGACY_FILE.match(entry)
                backup = _legacy(path, legacy) if legacy else None
                if backup is None:
                    continue
            target = self.before_restore if backup.kind == BEFORE_RESTORE else self.by_uuid
            target.setdefault(backup.uuid, []).append(backup)
        for backups in list(self.by_uuid.values()) + list(self.before_restore.values()):
            backups.sort(key=lambda backup: (backup.when, backup.path))

    def backups_of(self, uuid):
        return self.by_uuid.get((uuid or '').lower(), [])

    def named(self, name, exclude_uuids=()):
        """Backups (newest first) whose domain is called ``name``, of UUIDs not in ``exclude_uuids``.

        For a name that matches no domain: a domain that was undefined since.  Only
        files whose prefix fits are read.
        """
        prefix = file_prefix(name)
        found = []
        for uuid, backups in self.by_uuid.items():
            if uuid in exclude_uuids or backups[-1].prefix != prefix:
                continue
            try:
                if name_of(backups[-1].read()) == name:
                    found.append(backups[-1])
            except (OSError, UnicodeDecodeError):
                continue
        return sorted(found, key=lambda backup: backup.when, reverse=True)


# ---------------------------------------------------------------- which backup


NEWEST = 'newest'
OLDEST = 'oldest'
_WHEN = re.compile(r'^(\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{2}):?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?'
                   r'(Z|[+-]\d{2}:?\d{2})?$')


def parse_when(text):
    """A point in time from ``YYYYmmddTHHMMSS[.ffffff][Z]``, ``YYYY-mm-ddTHH:MM[:SS]`` or a date.

    Without an offset the time is UTC, as in backup file names.  Raises
    ValueError with what is accepted.
    """
    match = _WHEN.match(text.strip())
    if not match:
        raise ValueError("'%s' is not newest, oldest or a time such as 20261124T101500Z, "
                         "2026-11-24T10:15:00+01:00 or 2026-11-24 (UTC unless an offset is given)" % text)
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if zone in (None, 'Z'):
        tz = datetime.timezone.utc
    else:
        digits = zone[1:].replace(':', '')
        offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        tz = datetime.timezone(offset if zone[0] == '+' else -offset)
    try:
        return datetime.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                                 int(second or 0), int((fraction or '0').ljust(6, '0')), tzinfo=tz)
    except ValueError as err:
        raise ValueError("'%s' is not a valid time: %s" % (text, err)) from err


def check_choice(choice):
    """ValueError when ``choice`` is neither newest, oldest nor a time."""
    if choice not in (NEWEST, OLDEST):
        parse_when(choice)


def choose(backups, choice):
    """The backup ``choice`` picks from ``backups`` (oldest first), or None.

    ``newest``: the last one written (the definition before the latest change);
    ``oldest``: the first (before the first rollout); a time: the first one written
    at or after it, which holds the definition the domain had at that time.
    """
    if not backups:
        return None
    if choice == NEWEST:
        return backups[-1]
    if choice == OLDEST:
        return backups[0]
    when = parse_when(choice)
    return next((backup for backup in backups if backup.when >= when), None)
