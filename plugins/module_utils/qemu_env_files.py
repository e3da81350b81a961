# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The QEMU argument list held in a systemd ``EnvironmentFile``.

A line such as ``QEMU_ARGS="-machine q35 -spice ..."`` is read the way systemd
reads it for ``ExecStart=... $QEMU_ARGS`` (:func:`parse_env_text`,
:func:`split_words`) and written back so that systemd and a POSIX shell read
the same arguments, with every other byte of the file kept
(:class:`EnvFileArgs`).  :func:`resolve_env_file`, the one function here that
looks at the file system, finds the file a path (or a symbolic link) names.
What the arguments mean is ``qemu_command_line``'s business, not this file's.
"""

from __future__ import annotations

import errno
import os
import re
import stat

from ansible_collections.spice.streaming.plugins.module_utils.qemu_options import QemuCmdlineError
from ansible_collections.spice.streaming.plugins.module_utils.secrets import MASK

_ENV_WHITESPACE = ' \t\n\r'
_ENV_NEWLINE = '\n\r'
_ENV_COMMENTS = '#;'
_SHELL_NEED_ESCAPE = '"\\`$'
_VARIABLE_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
# Words made only of these need no quoting for systemd or a POSIX shell.
_SAFE_WORD = re.compile(r'^[A-Za-z0-9_@%+=:,./-]+$')


class EnvAssignment:
    """One ``KEY=VALUE`` of an environment file: its value and where its text is."""

    __slots__ = ('key', 'value', 'start', 'end', 'line', 'text_after_quote')

    def __init__(self, key, value, start, end, line, text_after_quote):
        self.key = key
        self.value = value
        self.start = start
        self.end = end
        self.line = line
        self.text_after_quote = text_after_quote


def parse_env_text(text):
    """The assignments of a systemd ``EnvironmentFile``, as systemd reads them.

    A transcription of systemd's ``parse_env_file_internal()`` (src/basic/env-file.c)
    that also records where each assignment's text starts and ends, so the
    assignment can be replaced with everything around it kept byte for byte.
    Raises QemuCmdlineError on a quote that is never closed (systemd would
    swallow the rest of the file into that value).
    """
    assignments = []
    state = 'PRE_KEY'
    key, value = [], []
    start = 0
    key_line = 1
    current_line = 1
    value_trailing_ws = None
    after_quote = gap_after_quote = text_after_quote = False
    quote_line = 0

    def push(end):
        raw_value = ''.join(value)
        if state == 'VALUE' and value_trailing_ws is not None:
            raw_value = raw_value[:value_trailing_ws]
        assignments.append(EnvAssignment(''.join(key).rstrip(_ENV_WHITESPACE), raw_value,
                                         start, end, key_line, text_after_quote))

    for pos, char in enumerate(text):
        if state == 'PRE_KEY':
            if char in _ENV_COMMENTS:
                state = 'COMMENT'
            elif char not in _ENV_WHITESPACE:
                state, key, value, start, key_line = 'KEY', [char], [], pos, current_line
                after_quote = gap_after_quote = text_after_quote = False
        elif state == 'KEY':
            if char in _ENV_NEWLINE:
                state = 'PRE_KEY'
            elif char == '=':
                state, value_trailing_ws = 'PRE_VALUE', None
            else:
                key.append(char)
        elif state == 'PRE_VALUE':
            if char in _ENV_NEWLINE:
                push(pos)
                state = 'PRE_KEY'
            elif char in _ENV_WHITESPACE:
                gap_after_quote = after_quote
            else:
                # systemd glues "a" b into ab; a shell would run b: refuse that.
                text_after_quote = text_after_quote or gap_after_quote
                if char == "'":
                    state, quote_line = 'SINGLE_QUOTE_VALUE', current_line
                elif char == '"':
                    state, quote_line = 'DOUBLE_QUOTE_VALUE', current_line
                elif char == '\\':
                    state = 'VALUE_ESCAPE'
                else:
                    state = 'VALUE'
                    value.append(char)
        elif state == 'VALUE':
            if char in _ENV_NEWLINE:
                push(pos)
                state = 'PRE_KEY'
            elif char == '\\':
                state, value_trailing_ws = 'VALUE_ESCAPE', None
            else:
                if char not in _ENV_WHITESPACE:
                    value_trailing_ws = None
                elif value_trailing_ws is None:
                    value_trailing_ws = len(value)
                value.append(char)
        elif state == 'VALUE_ESCAPE':
            state = 'VALUE'
            if char not in _ENV_NEWLINE:
                value.append(char)
        elif state == 'SINGLE_QUOTE_VALUE':
            if char == "'":
                state, after_quote = 'PRE_VALUE', True
            else:
                value.append(char)
        elif state == 'DOUBLE_QUOTE_VALUE':
            if char == '"':
                state, after_quote = 'PRE_VALUE', True
            elif char == '\\':
                state = 'DOUBLE_QUOTE_VALUE_ESCAPE'
            else:
                value.append(char)
        elif state == 'DOUBLE_QUOTE_VALUE_ESCAPE':
            state = 'DOUBLE_QUOTE_VALUE'
            if char in _SHELL_NEED_ESCAPE:
                value.append(char)
            elif char != '\n':
                value.extend(('\\', char))
        elif state == 'COMMENT':
            if char == '\\':
                state = 'COMMENT_ESCAPE'
            elif char in _ENV_NEWLINE:
                state = 'PRE_KEY'
        elif state == 'COMMENT_ESCAPE':
            state = 'COMMENT'
        if char == '\n':
            current_line += 1
    if state in ('SINGLE_QUOTE_VALUE', 'DOUBLE_QUOTE_VALUE', 'DOUBLE_QUOTE_VALUE_ESCAPE'):
        raise QemuCmdlineError('the value of %s (line %d) opens a quote at line %d that is never '
                               'closed' % (''.join(key).strip(), key_line, quote_line))
    if state in ('PRE_VALUE', 'VALUE', 'VALUE_ESCAPE'):
        push(len(text))
    return assignments


def split_words(value):
    """Split a variable's value into arguments as systemd does for ``$VAR`` in ``ExecStart=``.

    systemd's ``replace_env_argv()`` splits with ``EXTRACT_RELAX|EXTRACT_UNQUOTE``:
    whitespace separates, single and double quotes group and are removed, and a
    backslash (quoted or not) is dropped and the next character kept.  systemd
    quietly accepts an unbalanced quote or a trailing backslash; here they are
    errors, because what they mean is a guess.
    """
    words = []
    word = None
    quote = None
    pos, end = 0, len(value)
    while pos < end:
        char = value[pos]
        if char == '\\':
            if pos + 1 >= end:
                raise QemuCmdlineError('the arguments end with a lone backslash')
            word = (word or '') + value[pos + 1]
            pos += 2
            continue
        if quote:
            if char == quote:
                quote = None
            else:
                word += char
        elif char in "'\"":
            quote = char
            word = word or ''
        elif char in _ENV_WHITESPACE:
            if word is not None:
                words.append(word)
                word = None
        else:
            word = (word or '') + char
        pos += 1
    if quote:
        raise QemuCmdlineError('the arguments have an unbalanced %s quote' % (
            'single' if quote == "'" else 'double'))
    if word is not None:
        words.append(word)
    return words


def quote_word(word):
    """Quote one argument so that systemd's split and a POSIX shell both give it back."""
    if _SAFE_WORD.match(word):
        return word
    if "'" not in word and '\\' not in word:
        # Single quotes keep everything literal for the shell; systemd would
        # treat a backslash inside them as an escape, hence the test above.
        return "'%s'" % word
    return '"%s"' % re.sub(r'([\\"$`])', r'\\\1', word)


def join_words(args):
    """The value text of an argument list: the inverse of :func:`split_words`."""
    return ' '.join(quote_word(arg) for arg in args)


def env_assignment_text(variable, args):
    """``VARIABLE="..."`` holding ``args``, read alike by systemd and a POSIX shell."""
    inner = join_words(args)
    return '%s="%s"' % (variable, re.sub(r'([\\"$`])', r'\\\1', inner))


class EnvFileArgs:
    """The argument list held in one variable of an environment file's text."""

    def __init__(self, text, variable):
        if not _VARIABLE_NAME.match(variable):
            raise QemuCmdlineError('%r is not a valid environment variable name' % variable)
        self.text = text
        self.variable = variable
        matches = [item for item in parse_env_text(text) if item.key == variable]
        if not matches:
            raise QemuCmdlineError(
                'there is no %s= line; the file must hold the QEMU arguments in one line such as '
                '%s="-machine q35 -spice port=5930,disable-ticketing=on" (or set the variable '
                'option to the name the file uses)' % (variable, variable))
        # systemd lets a later assignment override an earlier one.
        self.assignment = matches[-1]
        self.overridden = len(matches) - 1
        if self.assignment.text_after_quote:
            raise QemuCmdlineError(
                '%s at line %d has text after its closing quote; systemd would glue it to the '
                'value (a shell would not): move comments to a line of their own'
                % (variable, self.assignment.line))
        try:
            self.args = split_words(self.assignment.value)
        except QemuCmdlineError as err:
            raise QemuCmdlineError('%s at line %d: %s' % (variable, self.assignment.line, err)) from None

    def with_args(self, args):
        """The file's text with this variable holding ``args``; everything else as it was."""
        return (self.text[:self.assignment.start] + env_assignment_text(self.variable, args)
                + self.text[self.assignment.end:])

    def masked_text(self, masked_args, secrets):
        """The file's text fit to show: this variable holds ``masked_args`` (see ``qemu_secrets.mask_secrets``).

        The assignment keeps its own layout when masking each secret where it is
        written gives exactly ``masked_args``; otherwise (a secret written with
        escapes, or one that also occurs as another word) the assignment is shown
        as the module writes it.
        """
        if masked_args == self.args:
            return self.text
        start, end = self.assignment.start, self.assignment.end
        region = self.text[start:end]
        for secret in sorted(secrets, key=len, reverse=True):
            region = region.replace(secret, MASK)
        candidate = self.text[:start] + region + self.text[end:]
        try:
            if EnvFileArgs(candidate, self.variable).args == masked_args:
                return candidate
        except QemuCmdlineError:
            pass
        return self.with_args(masked_args)


def resolve_env_file(path, variable):
    """The regular file that ``path`` names, symbolic links followed: the file to read and replace.

    Like ``ansible.builtin.lineinfile``, a link is followed and the file it
    points to is edited, so the link stays a link.  Raises QemuCmdlineError,
    naming ``path``, when there is no such file, the link dangles or loops, or
    the file is not a regular file.
    """
    try:
        info = os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise QemuCmdlineError(
                '%s is a symbolic link that never reaches a file (%s); point it at the file that '
                'holds %s=, or give that file as path' % (path, _link_chain(path), variable)) from None
        if err.errno == errno.ENOENT and os.path.islink(path):
            raise QemuCmdlineError(
                '%s is a symbolic link to %s, which does not exist; create that file with a line '
                '%s="<QEMU arguments>", or point the link at the file that holds them'
                % (path, os.path.realpath(path), variable)) from None
        if err.errno == errno.ENOENT:
            raise QemuCmdlineError(
                '%s does not exist; create it first (for example with ansible.builtin.template) with a '
                'line %s="<QEMU arguments>"' % (path, variable)) from None
        raise QemuCmdlineError('cannot read %s: %s' % (path, err.strerror)) from None
    real = os.path.realpath(path)
    if not stat.S_ISREG(info.st_mode):
        through = '' if real == os.path.abspath(path) else ' (it leads to %s)' % real
        raise QemuCmdlineError('%s is not a regular file%s' % (path, through))
    return real


def _link_chain(path, hops=8):
    """``a -> b -> a``: the links followed from ``path`` until one repeats, for a message."""
    chain = [path]
    current = os.path.abspath(path)
    seen = {current}
    for _unused in range(hops):
        try:
            target = os.readlink(current)
        except OSError:
            break
        current = os.path.normpath(os.path.join(os.path.dirname(current), target))
        chain.append(target)
        if current in seen:
            return ' -> '.join(chain)
        seen.add(current)
    return ' -> '.join(chain) + ' -> ...'
