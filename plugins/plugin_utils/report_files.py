# -*- coding: utf-8 -*-
# Copyright: spice.streaming contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report's files: render its templates, write a file only when its content changed.

Controller side, for the ``spice.streaming.fleet_report`` action.  The templates are rendered by
Jinja2 itself, with the settings of Ansible's template module (trim_blocks, the final newline
kept, no autoescape: the templates escape every value) and the collection's
``markdown_escape`` filter under its full name.  Not by Ansible's templar: a report of a large
fleet holds hundreds of thousands of values, and ansible-core 2.19's templar wraps each one a
template touches (bench/bench_report.py: 10,000 domains render in about 2 s here, 30 s through
the template module).  The values are data, never templated again.

Each file holds its time on one line only (``Generated <time>``).  A file on disk whose content
is the same once rendered with its own time is left as it is: a report that found the same
state is not a change.
"""

from __future__ import annotations

import os
import re
import tempfile

import jinja2

from ansible_collections.spice.streaming.plugins.filter.markdown_escape import markdown_escape

TIME_FORMAT = '%Y-%m-%d %H:%M:%S UTC'
# The line that holds the time: "Generated <time>" at the start of a line (Markdown), or right
# after the paragraph tag that opens it (HTML). Only the templates write line starts like these.
_TIME_LINE = re.compile(r'^(?:<p class="meta" id="generated">)?Generated (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC)',
                        re.MULTILINE)
# The files of the report and the template each is rendered from.
FILES = (('index.html', 'report.html.j2'), ('report.md', 'report.md.j2'))
# The collection's own templates, for a playbook that has no templates/ of that name.
DEFAULT_TEMPLATES = os.path.realpath(os.path.join(os.path.dirname(__file__), '..', '..', 'playbooks', 'templates'))


def environment(directories):
    """A Jinja2 environment that renders the report's templates as Ansible's template module would."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(list(directories)), trim_blocks=True,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters['spice.streaming.markdown_escape'] = markdown_escape
    return env


def render(env, template, content, generated):
    """One report file's text: ``content`` from the streaming_report filter, ``generated`` the time."""
    return env.get_template(template).render(streaming_report_content=content,
                                             streaming_report_generated=generated)


def time_of(text):
    """The time on the time line of a report file, or None."""
    match = _TIME_LINE.search(text)
    return match.group(1) if match else None


def _read(path):
    try:
        with open(path, encoding='utf-8') as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        return ''   # not a report this wrote: replaced


def write_if_changed(path, render_at, generated, check_mode=False, mode=0o644):
    """Write ``render_at(generated)`` to ``path`` unless the file already says the same.

    ``render_at(time)`` renders the file at that time.  The file on disk is first compared
    with the content rendered at its own time, so that only the time differing is no change.
    Returns whether the file was (or, in check mode, would be) written.  The write is atomic
    (a temporary file in the same directory, then a rename) with ``mode``.
    """
    old = _read(path)
    if old is not None:
        when = time_of(old)
        if when is not None and render_at(when) == old:
            return False
    text = render_at(generated)
    if text == old:
        return False
    if not check_mode:
        directory = os.path.dirname(path) or '.'
        handle, temporary = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=directory)
        try:
            with os.fdopen(handle, 'w', encoding='utf-8') as out:
                out.write(text)
            os.chmod(temporary, mode)
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
    return True
