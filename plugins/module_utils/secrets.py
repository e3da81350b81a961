# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keeping the secret values of a definition out of what a run shows.

Which values are secret is decided where they are read:
``domain_xml.definition_secrets`` (a domain definition) and
``qemu_secrets.mask_secrets`` (a QEMU command line); both show a secret as
:data:`MASK`.  This masks those values wherever else they turn up, for example
in an error QEMU printed with the argument that held them.
"""

from __future__ import annotations

# What is shown in place of a secret; the same placeholder Ansible uses for no_log.
MASK = '********'

# Shorter values are masked where they are known to be (a diff masks by structure,
# whatever the length) but not searched for in free text: every "1" or "on" of a
# result turned into ******** would garble names, states and counts (Ansible masks
# every occurrence, and replaces a value that equals one outright), for a secret
# that short that hiding could not protect anyway.
MIN_SEARCHED = 4


def searched(secrets):
    """The values of ``secrets`` that are looked for in messages, longest first."""
    return sorted((value for value in secrets if len(value) >= MIN_SEARCHED), key=len, reverse=True)


def mask_text(text, secrets):
    """``text`` with every occurrence of each searched value of ``secrets`` replaced by ``********``.

    Longer values first, so a secret that contains another is masked whole.
    """
    for secret in searched(secrets):
        text = text.replace(secret, MASK)
    return text


def hide_from_result(module, secrets):
    """Have Ansible mask the searched values of ``secrets`` in everything the module returns.

    That covers ``msg`` and every other key; Ansible does not apply it to
    warnings: pass those through :func:`mask_text`.
    """
    module.no_log_values.update(searched(secrets))
