# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``mask_url`` filter: a URL fit to print, its credentials replaced.

Documentation lives beside this file, in ``mask_url.yml``.
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

MASK = '********'
# scheme://[userinfo@]host... ; anything else (a path on the controller) is not a URL.
_URL = re.compile(r'^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<rest>.*)$', re.DOTALL)


def _mask_userinfo(authority):
    """``user:pass@host`` -> ``user:********@host``; ``token@host`` -> ``********@host``."""
    userinfo, at, host = authority.rpartition('@')
    if not at:
        return authority
    user, colon, _password = userinfo.partition(':')
    return '%s@%s' % ('%s:%s' % (user, MASK) if colon else MASK, host)


def _mask_query(query):
    """Every parameter's value masked, its name kept: ``a=1&b`` -> ``a=********&********``."""
    masked = []
    for parameter in re.split(r'([&;])', query):
        if parameter in ('&', ';', ''):
            masked.append(parameter)
            continue
        name, equals, _value = parameter.partition('=')
        masked.append('%s=%s' % (name, MASK) if equals else MASK)
    return ''.join(masked)


def mask_url(value):
    """Return ``value`` with a URL's user information, query values and fragment masked.

    A URL says nothing about which of its parts are secret (``?private_token=``, a signed
    ``X-Amz-Signature=``, ``https://TOKEN@host/``), so every part that can carry one is masked
    and the rest (scheme, host, port, path, parameter names) stays, enough to recognise the
    URL.  Anything that is not a URL (a path) comes back unchanged, and so does ``None``.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise AnsibleFilterError('spice.streaming.mask_url: expects a string, not %s' % type(value).__name__)
    match = _URL.match(value)
    if not match:
        return value
    rest = match.group('rest')
    rest, hash_mark, fragment = rest.partition('#')
    rest, question_mark, query = rest.partition('?')
    authority, slash, path = rest.partition('/')
    return ''.join((match.group('scheme'), _mask_userinfo(authority), slash, path,
                    question_mark, _mask_query(query) if question_mark else '',
                    hash_mark, MASK if fragment else ''))


class FilterModule:
    """Filters that keep secrets out of what the collection prints."""

    def filters(self):
        return {'mask_url': mask_url}
