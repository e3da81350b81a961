# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of systemd environment files (module_utils/qemu_env_files.py).

Parsing and quoting are pure; file resolution runs on real files, links and loops under tmp_path.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ansible_collections.spice.streaming.plugins.module_utils.qemu_env_files import (
    EnvFileArgs,
    env_assignment_text,
    parse_env_text,
    quote_word,
    resolve_env_file,
    split_words,
)
from ansible_collections.spice.streaming.plugins.module_utils.qemu_options import QemuCmdlineError
from ansible_collections.spice.streaming.plugins.module_utils.qemu_secrets import mask_secrets
from ansible_collections.spice.streaming.plugins.module_utils.secrets import MASK

STREAM = 'org.spice-space.stream.0'


# ---------------------------------------------------------------- environment files


ENV_TEXT = (
    '# Managed by hand; comments stay.\n'
    'QEMU_BIN=/usr/bin/qemu-system-x86_64\n'
    '\n'
    'QEMU_ARGS="-machine q35 -m 2048 \\\n'
    '  -spice port=5930,disable-ticketing=on -name \'desk 01\'"\n'
    'OTHER=\'x\'\n'
)


class TestEnvFile:
    def test_reads_like_systemd(self):
        found = {item.key: item.value for item in parse_env_text(ENV_TEXT)}
        assert found == {
            'QEMU_BIN': '/usr/bin/qemu-system-x86_64',
            'QEMU_ARGS': "-machine q35 -m 2048   -spice port=5930,disable-ticketing=on -name 'desk 01'",
            'OTHER': 'x',
        }

    def test_arguments(self):
        assert EnvFileArgs(ENV_TEXT, 'QEMU_ARGS').args == [
            '-machine', 'q35', '-m', '2048', '-spice', 'port=5930,disable-ticketing=on', '-name', 'desk 01']

    def test_rewrite_keeps_everything_else(self):
        envfile = EnvFileArgs(ENV_TEXT, 'QEMU_ARGS')
        new_text = envfile.with_args(envfile.args + ['-S'])
        head, _sep, tail = ENV_TEXT.partition('QEMU_ARGS=')
        assert new_text.startswith(head)
        assert new_text.endswith('\nOTHER=\'x\'\n')
        assert EnvFileArgs(new_text, 'QEMU_ARGS').args == envfile.args + ['-S']
        assert 'QEMU_ARGS="-machine q35 -m 2048 -spice port=5930,disable-ticketing=on -name \'desk 01\' -S"\n' \
            in new_text

    @pytest.mark.parametrize('text, value', [
        ('QEMU_ARGS=-m 64   \n', '-m 64'),
        ('  QEMU_ARGS = "a b" \n', 'a b'),
        ("QEMU_ARGS='a \"b\" \\c'", 'a "b" \\c'),
        ('QEMU_ARGS="a \\"q\\" \\$x \\n"\n', 'a "q" $x \\n'),
        ('QEMU_ARGS=a\\\nb\n', 'ab'),
        ('QEMU_ARGS="a"\'b\'\n', 'ab'),
        ('QEMU_ARGS=\n', ''),
        ('QEMU_ARGS="x"\r\nB=1\r\n', 'x'),
        ('QEMU_ARGS=first\n; QEMU_ARGS=comment\nQEMU_ARGS=second\n', 'second'),
    ])
    def test_values(self, text, value):
        assert [a.value for a in parse_env_text(text) if a.key == 'QEMU_ARGS'][-1] == value

    def test_last_assignment_is_edited(self):
        text = 'QEMU_ARGS="-m 1"\nQEMU_ARGS="-m 2"\n'
        envfile = EnvFileArgs(text, 'QEMU_ARGS')
        assert envfile.overridden == 1
        assert envfile.with_args(['-m', '3']) == 'QEMU_ARGS="-m 1"\nQEMU_ARGS="-m 3"\n'

    def test_missing_variable(self):
        with pytest.raises(QemuCmdlineError, match='there is no QEMU_ARGS= line'):
            EnvFileArgs('# QEMU_ARGS="-m 1"\nOTHER=1\n', 'QEMU_ARGS')

    def test_invalid_variable_name(self):
        with pytest.raises(QemuCmdlineError, match='not a valid environment variable name'):
            EnvFileArgs('A=1\n', 'QEMU-ARGS')

    def test_unterminated_quote(self):
        with pytest.raises(QemuCmdlineError, match=r'QEMU_ARGS \(line 2\) opens a quote at line 2'):
            EnvFileArgs('A=1\nQEMU_ARGS="-m 64\nB=2\n', 'QEMU_ARGS')

    def test_text_after_closing_quote(self):
        with pytest.raises(QemuCmdlineError, match='text after its closing quote'):
            EnvFileArgs('QEMU_ARGS="-m 64" # memory\n', 'QEMU_ARGS')

    def test_unbalanced_inner_quote(self):
        with pytest.raises(QemuCmdlineError, match='QEMU_ARGS at line 1: the arguments have an unbalanced single quote'):
            EnvFileArgs('QEMU_ARGS="-name \'desk"\n', 'QEMU_ARGS')


class TestWords:
    @pytest.mark.parametrize('value, words', [
        ('  a  b\tc\n', ['a', 'b', 'c']),
        ('"a b"c \'d e\'', ['a bc', 'd e']),
        ('a\\ b \\"', ['a b', '"']),
        ("'in\\'single'", ["in'single"]),  # systemd: a backslash escapes inside single quotes too
        ("'' x", ['', 'x']),
    ])
    def test_split_like_systemd(self, value, words):
        assert split_words(value) == words

    @pytest.mark.parametrize('value, message', [
        ('a "b', 'unbalanced double quote'),
        ("a 'b", 'unbalanced single quote'),
        ('a \\', 'lone backslash'),
    ])
    def test_split_errors(self, value, message):
        with pytest.raises(QemuCmdlineError, match=message):
            split_words(value)

    def test_quote_word_leaves_plain_words_alone(self):
        assert quote_word('virtserialport,bus=vs.0,nr=1,name=%s' % STREAM) == \
            'virtserialport,bus=vs.0,nr=1,name=%s' % STREAM
        assert quote_word('{"driver":"x"}') == '\'{"driver":"x"}\''

    ODD = ['-device', '{"driver":"virtio-rng-pci","x":"$HOME `id`"}', "it's", 'a\\b', '', 'sp ace',
           'tab\there', 'glob*?[x]', '~user', 'new\nline', "q'\"\\$`", '-spice', 'password=a,,b', '#hash', ';']

    def test_round_trip(self):
        text = 'A=1\n' + env_assignment_text('QEMU_ARGS', self.ODD) + '\n'
        assert EnvFileArgs(text, 'QEMU_ARGS').args == self.ODD

    @pytest.mark.skipif(shutil.which('sh') is None, reason='needs a POSIX shell')
    def test_a_posix_shell_reads_the_same_arguments(self, tmp_path):
        env = tmp_path / 'vm.env'
        env.write_text('A=1\n' + env_assignment_text('QEMU_ARGS', self.ODD) + '\n')
        out = subprocess.run(['sh', '-c', '. "$1"; eval "set -- $QEMU_ARGS"; printf "%s\\0" "$@"', 'sh', str(env)],
                             capture_output=True, text=True, check=True, timeout=10)
        assert out.stdout.split('\0')[:-1] == self.ODD


# ---------------------------------------------------------------- the file shown in a diff

MULTILINE = ('# desk-01\n'
             'QEMU_ARGS="-name desk-01 \\\n'
             '  -spice port=5936,password=s3cr3t \\\n'
             '  -object secret,id=s0,data=d4t4"\n'
             'OTHER=1\n')


def test_masked_text_keeps_the_layout_of_the_assignment():
    envfile = EnvFileArgs(MULTILINE, 'QEMU_ARGS')
    masked, secrets = mask_secrets(envfile.args)
    shown = envfile.masked_text(masked, secrets)
    assert shown == MULTILINE.replace('s3cr3t', MASK).replace('d4t4', MASK)


def test_masked_text_without_secrets_is_the_text():
    text = 'QEMU_ARGS="-spice port=1"\n'
    envfile = EnvFileArgs(text, 'QEMU_ARGS')
    assert envfile.masked_text(*mask_secrets(envfile.args)) == text


@pytest.mark.parametrize('text', [
    # Written with an escape: masking where it is written cannot find it.
    'QEMU_ARGS="-spice port=5936,password=pa\\$\\$word"\nB=2\n',
    # The secret is also an ordinary word elsewhere in the arguments.
    'QEMU_ARGS="-name vs0 -spice port=5936,password=vs0"\n',
])
def test_masked_text_falls_back_to_the_module_layout(text):
    envfile = EnvFileArgs(text, 'QEMU_ARGS')
    masked, secrets = mask_secrets(envfile.args)
    shown = envfile.masked_text(masked, secrets)
    assert EnvFileArgs(shown, 'QEMU_ARGS').args == masked
    assert not any(secret in shown.replace('vs0 -spice', '') for secret in secrets)


# ---------------------------------------------------------------- the file a path names


def test_a_regular_file_is_itself(tmp_path):
    env = tmp_path / 'vm.env'
    env.write_text('QEMU_ARGS=-m 64\n')
    assert resolve_env_file(str(env), 'QEMU_ARGS') == str(env)


def test_links_are_followed_to_the_file(tmp_path):
    (tmp_path / 'real').mkdir()
    (tmp_path / 'etc').mkdir()
    target = tmp_path / 'real' / 'vm.env'
    target.write_text('QEMU_ARGS=-m 64\n')
    os.symlink('../real/vm.env', tmp_path / 'etc' / 'hop.env')   # relative
    os.symlink(str(tmp_path / 'etc' / 'hop.env'), tmp_path / 'etc' / 'vm.env')   # a chain
    assert resolve_env_file(str(tmp_path / 'etc' / 'vm.env'), 'QEMU_ARGS') == str(target)


def test_a_dangling_link_is_named_with_its_target(tmp_path):
    link = tmp_path / 'vm.env'
    os.symlink('gone/vm.env', link)
    with pytest.raises(QemuCmdlineError) as caught:
        resolve_env_file(str(link), 'KIOSK_ARGS')
    assert str(caught.value) == (
        '%s is a symbolic link to %s, which does not exist; create that file with a line '
        'KIOSK_ARGS="<QEMU arguments>", or point the link at the file that holds them'
        % (link, tmp_path / 'gone' / 'vm.env'))


@pytest.mark.parametrize('links, chain', [
    ({'a.env': 'a.env'}, 'a.env -> a.env'),
    ({'a.env': 'b.env', 'b.env': 'a.env'}, 'a.env -> b.env -> a.env'),
])
def test_a_link_loop_is_named(tmp_path, links, chain):
    for name, target in links.items():
        os.symlink(target, tmp_path / name)
    path = str(tmp_path / 'a.env')
    with pytest.raises(QemuCmdlineError) as caught:
        resolve_env_file(path, 'QEMU_ARGS')
    assert str(caught.value) == (
        '%s is a symbolic link that never reaches a file (%s); point it at the file that holds '
        'QEMU_ARGS=, or give that file as path' % (path, str(tmp_path / chain.split(' -> ')[0])
                                                   + chain[len(chain.split(' -> ')[0]):]))


def test_a_link_to_a_directory_is_not_a_file(tmp_path):
    os.symlink(str(tmp_path), tmp_path / 'dir.env')
    with pytest.raises(QemuCmdlineError, match=r'dir\.env is not a regular file \(it leads to %s\)$'
                       % str(tmp_path).replace('.', r'\.')):
        resolve_env_file(str(tmp_path / 'dir.env'), 'QEMU_ARGS')


def test_a_missing_file_says_how_to_create_it(tmp_path):
    with pytest.raises(QemuCmdlineError, match='nowhere.env does not exist; create it first'):
        resolve_env_file(str(tmp_path / 'nowhere.env'), 'QEMU_ARGS')
