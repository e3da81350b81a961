# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plugins keep to their layers: no module reaches into another's private names.

libvirt access is one layer (``module_utils/libvirt_connect.py``): the one ``import
libvirt``, the one alive check, the one lost-connection message.  These tests read
the source (``ast``), so a new shortcut fails here before a reviewer has to find it.
"""

from __future__ import annotations

import ast
import os
import re

import pytest

PLUGINS = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'plugins')
LAYER = os.path.join('module_utils', 'libvirt_connect.py')

# Private names that must stay reachable from outside their module, each with why.
ALLOWED = {
    # AnsibleModule says whether diff mode is on only through ``_diff`` (ansible-core has
    # no public name for it; every collection's module reads it so).
    ('module', '_diff'),
}


def sources(root=PLUGINS):
    """``{path relative to root: parsed tree}`` of every Python file of the plugins."""
    trees = {}
    for folder, _dirs, files in os.walk(root):
        for name in sorted(files):
            if name.endswith('.py'):
                path = os.path.join(folder, name)
                with open(path, encoding='utf-8') as handle:
                    trees[os.path.relpath(path, root)] = ast.parse(handle.read(), path)
    return trees


def _private(name):
    return name.startswith('_') and not (name.startswith('__') and name.endswith('__'))


def _owner(node):
    """The name an attribute is read on (``x`` of ``x._y``); ``super()`` counts as ``super``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'super':
        return 'super'
    return ast.unparse(node)


def private_reaches(root=PLUGINS):
    """``['path:line: what']`` for every reach into another module's or object's private name."""
    found = []
    for path, tree in sources(root).items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                owner = _owner(node.value)
                if owner in ('self', 'cls', 'super') or (owner, node.attr) in ALLOWED:
                    continue
                found.append('%s:%d: %s' % (path, node.lineno, ast.unparse(node)))
            elif isinstance(node, ast.ImportFrom):
                found.extend('%s:%d: from %s import %s' % (path, node.lineno, node.module, alias.name)
                             for alias in node.names if _private(alias.name))
    return found


def definitions(name, root=PLUGINS):
    """The files that define a function or method called ``name``."""
    return sorted(path for path, tree in sources(root).items()
                  if any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name
                         for node in ast.walk(tree)))


DOC_NAMES = ('DOCUMENTATION', 'EXAMPLES', 'RETURN')


def _strings(tree):
    """The string literals of the code: docstrings and the plugin documentation left out."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
                skipped.add(id(node.body[0].value))
        elif isinstance(node, ast.Assign) and any(isinstance(target, ast.Name) and target.id in DOC_NAMES
                                                  for target in node.targets):
            skipped.add(id(node.value))
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped]


def test_no_plugin_reaches_into_another_modules_private_names():
    assert private_reaches() == []


def test_the_scan_finds_a_private_reach(tmp_path):
    """The scan itself can fail: each kind of reach is found, and self, cls and super() are not."""
    (tmp_path / 'one.py').write_text(
        'from x import _hidden\n'
        'def f(run, module):\n'
        '    run._stop()\n'
        '    module._diff\n'
        'class A(B):\n'
        '    def g(self):\n'
        '        return self._mine, super()._theirs(), type(self).__name__\n', encoding='utf-8')
    assert private_reaches(str(tmp_path)) == ['one.py:1: from x import _hidden', 'one.py:3: run._stop']


def test_the_alive_check_exists_once():
    for helper in ('_alive', 'alive', '_is_alive'):
        assert definitions(helper) == [], helper
    assert definitions('is_alive') == [LAYER]
    callers = sorted(path for path, tree in sources().items()
                     if any(isinstance(node, ast.Attribute) and node.attr == 'isAlive' for node in ast.walk(tree)))
    assert callers == [LAYER]


def test_libvirt_is_imported_in_the_layer_only():
    importers = sorted(path for path, tree in sources().items()
                       if any(isinstance(node, ast.Import) and any(alias.name == 'libvirt' for alias in node.names)
                              for node in ast.walk(tree)))
    assert importers == [LAYER]


@pytest.mark.parametrize('words, place', [
    (r'lost the connection to libvirt', LAYER),
    # The reason or problem sentence ("no SPICE graphics: it cannot carry ..."), not the
    # value "none (no SPICE graphics)" of a gap.
    (r'no SPICE graphics[:,]', os.path.join('module_utils', 'domain_xml.py')),
])
def test_a_message_is_worded_in_one_place(words, place):
    """'lost the connection' and 'no SPICE graphics' are each worded in one place, whoever says them."""
    holders = sorted(path for path, tree in sources().items()
                     if any(re.search(words, text) for text in _strings(tree)))
    assert holders == [place]


MUTATORS = ('append', 'extend', 'update', 'pop', 'setdefault', 'clear', 'remove', 'add', 'insert')


def foreign_writes(tree, owner='self.run'):
    """``['line: what']`` where code writes into ``owner``'s data instead of calling its methods.

    A write is an item assignment (``x[k] = v``, on any dict: the restarts keep none
    of their own) or a mutating call on an attribute of ``owner`` (``self.run.warnings.append``).
    """
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)):
            found.append('%d: %s' % (node.lineno, ast.unparse(node)))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS
              and ast.unparse(node.func.value).startswith(owner + '.')):
            found.append('%d: %s' % (node.lineno, ast.unparse(node.func)))
    return found


def test_the_restarts_record_through_the_runs_public_api():
    """Restarts records what happened with ``run.results`` (DomainResults) and the run's methods."""
    assert foreign_writes(sources()[os.path.join('module_utils', 'libvirt_restart.py')]) == []


def test_the_write_scan_finds_a_write():
    tree = ast.parse('def f(self, result):\n'
                     '    result["restart"] = 1\n'
                     '    self.run.warnings.append("x")\n'
                     '    self.run.results.warn("y")\n'
                     '    self._in_flight.append(2)\n')
    assert foreign_writes(tree) == ["2: result['restart']", '3: self.run.warnings.append']
