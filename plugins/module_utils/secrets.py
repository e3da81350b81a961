# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keeping the secret values of a definition out of what a run shows.

Which values are secret is decided where they are read:
``domain_xml.definition_secrets`` (a domain definition) and
``qemu_cmdline.mask_secrets`` (a QEMU command line).  This masks those values
wherever else they turn up, for example in an error QEMU printed with the
argument that held them.
"""

from __future__ import annotations

from ansible_collections.spice.streaming.plugins.module_utils.qemu_cmdline import MASK


def mask_text(text, secrets):
    """``text`` with every occurrence of each value in ``secrets`` replaced by ``********``.

    Longer values first, so a secret that contains another is masked whole.
    """
    for secret in sorted((value for value in secrets if value), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def hide_from_result(module, secrets):
    """Have Ansible mask ``secrets`` in everything the module returns (``msg`` included).

    Ansible does not apply this to warnings: pass those through :func:`mask_text`.
    """
    module.no_log_values.update(value for value in secrets if value)
