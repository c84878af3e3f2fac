"""docs/development.md's table of registered components is the registries'
content: every class or function of cim_mm in an mmengine/mmpretrain
registry is listed in its row, and every listed name is registered there."""
import os.path as osp
import re

import mmengine.registry as mmengine_registry

import cim_mm  # noqa: F401

DOC = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
               'docs', 'development.md')


def registered():
    """{(registry name, scope, component name)} of cim_mm's registrations."""
    found = set()

    def walk(registry):
        for name, obj in registry.module_dict.items():
            if getattr(obj, '__module__', '').startswith('cim_mm'):
                found.add((registry.name, registry.scope, name))
        for child in registry.children.values():
            walk(child)

    for value in vars(mmengine_registry).values():
        if isinstance(value, mmengine_registry.Registry):
            walk(value)
    return found


def documented():
    """The same triples, read from the table's rows."""
    text = open(DOC).read()
    section = text[text.index('### Registered components'):]
    section = section[:section.index('\n## ')]
    rows = re.findall(r'^\| ([\w ]+) \| (\w+) \| (.+) \|$', section, re.M)
    return {(registry, scope, name)
            for registry, scope, names in rows if registry != 'registry'
            for name in re.findall(r'`(\w+)`', names)}


def test_the_table_lists_exactly_what_is_registered():
    listed, actual = documented(), registered()
    assert len(actual) > 30
    assert actual - listed == set(), 'registered but not in the table'
    assert listed - actual == set(), 'in the table but not registered'
