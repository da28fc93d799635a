"""Patch mode, classes: instances made before a reload run the new methods.

Scenarios of IPython's autoreload (``test_reload_class_type``,
``test_reload_class_attributes``, ``test_reload_enums``,
``test_comparing_numpy_structures``, the smoke test's ``Baz``/``Bar``) and
of jurigged (``test_merge``'s ``FlatCircle``, ``test_change_supermethod``,
``test_remove_super``, ``test_add_class_statement``, apple's static,
class methods and property setter), plus the issue's own.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import textwrap

import pytest

import hookreload
from tests.conftest import Project
from tests.patching import edit, hook, load

__all__ = ["hook"]


def test_instances_made_before_run_the_new_methods(project: Project, hook: hookreload.Hook) -> None:
    # jurigged test_merge with ballon's FlatCircle.
    mod = load(
        project,
        """
        import math
        class FlatCircle:
            def __init__(self, radius):
                self.radius = radius
            def unsightly(self):
                return "yuck"
            def volume(self):
                return -1
        """,
    )
    circle = mod.FlatCircle(10)
    volume = circle.volume
    cls = mod.FlatCircle
    event = edit(
        project,
        mod,
        """
        import math
        class FlatCircle:
            def __init__(self, radius):
                self.radius = radius
            def circumference(self):
                return 2 * math.pi * self.radius
            def volume(self):
                return 0
        """,
    )
    assert mod.FlatCircle is cls
    assert isinstance(circle, mod.FlatCircle)
    assert circle.volume() == 0
    assert volume() == 0
    assert circle.circumference() == pytest.approx(62.83, abs=0.01)
    with pytest.raises(AttributeError):
        circle.unsightly()
    assert event.added == ("FlatCircle.circumference",)
    assert event.removed == ("FlatCircle.unsightly",)
    assert {"FlatCircle", "FlatCircle.volume", "FlatCircle.__init__"} <= set(event.patched)


def test_class_attributes_added_changed_and_removed(
    project: Project, hook: hookreload.Hook
) -> None:
    # autoreload's test_reload_class_attributes.
    mod = load(
        project,
        """
        class MyClass:
            LIMIT = 1
            GONE = "x"
            def __init__(self, a=10):
                self.a = a
                self.b = 22
            def square(self):
                return self.a * self.a
        """,
    )
    first = mod.MyClass(5)
    assert first.square() == 25
    edit(
        project,
        mod,
        """
        class MyClass:
            LIMIT = 2
            ADDED = "y"
            def __init__(self, a=10):
                self.a = a
                self.b = 11
            def power(self, p):
                return self.a ** p
        """,
    )
    second = mod.MyClass(5)
    for obj in (first, second):
        assert obj.power(2) == 25
        with pytest.raises(AttributeError):
            obj.square()
        with pytest.raises(AttributeError):
            obj.cube()  # type: ignore[attr-defined]
        assert obj.a == 5
        assert (obj.LIMIT, obj.ADDED) == (2, "y")
        assert not hasattr(obj, "GONE")
        with pytest.raises(AttributeError):
            obj.toto  # type: ignore[attr-defined]  # noqa: B018
    assert (first.b, second.b) == (22, 11)  # instance state is the instance's


def test_properties_static_and_class_methods(project: Project, hook: hookreload.Hook) -> None:
    # autoreload's Baz.quux property; jurigged's apple Orchard and FakeApple.color.
    source = """
        class Orchard:
            @staticmethod
            def mcintosh():
                return {n}
            @classmethod
            def honeycrisp(cls, a):
                return (cls.__name__, a * {n})
            @property
            def color(self):
                return self._color * {n}
            @color.setter
            def color(self, value):
                self._color = value + {n}
            @property
            def shade(self):
                return "plain"
    """
    mod = load(project, source.format(n=1))
    cls = mod.Orchard
    mcintosh, honeycrisp = cls.mcintosh, cls.honeycrisp
    color, shade = vars(cls)["color"], vars(cls)["shade"]
    tree = cls()
    tree.color = 1
    assert tree.color == 2
    edit(project, mod, source.format(n=2).replace('"plain"', '"fancy"'))
    assert cls.mcintosh is mcintosh  # the same function, patched
    assert mcintosh() == 2
    assert honeycrisp(3) == ("Orchard", 6)
    assert vars(cls)["color"] is color
    tree.color = 1
    assert tree.color == 6
    assert tree.shade == "fancy"
    assert vars(cls)["shade"] is shade


def test_a_property_gaining_a_setter_is_replaced_by_the_new_one(
    project: Project, hook: hookreload.Hook
) -> None:
    mod = load(project, "class C:\n    @property\n    def x(self):\n        return 1\n")
    c = mod.C()
    with pytest.raises(AttributeError):
        c.x = 3
    edit(
        project,
        mod,
        """
        class C:
            @property
            def x(self):
                return self.__dict__.get("_x", 1) * 10
            @x.setter
            def x(self, value):
                self._x = value
        """,
    )
    c.x = 3
    assert c.x == 30


def test_zero_argument_super_and_class_cell(project: Project, hook: hookreload.Hook) -> None:
    # jurigged's glamour: test_change_supermethod.
    source = """
        class Wearable:
            def __init__(self, intensity):
                self.intensity = intensity
            def swagger(self):
                return self.intensity
        class Scarf(Wearable):
            def swagger(self):
                return super().swagger() * {n}
            def me(self):
                return __class__
    """
    mod = load(project, source.format(n=2))
    scarf = mod.Scarf(5)
    assert scarf.swagger() == 10
    edit(project, mod, source.format(n=3))
    assert scarf.swagger() == 15
    assert mod.Scarf(5).swagger() == 15
    assert scarf.me() is mod.Scarf


def test_removing_and_adding_super(project: Project, hook: hookreload.Hook) -> None:
    # jurigged's glamour: test_remove_super, then super() comes back.
    base = "class Wearable:\n    def swagger(self):\n        return 5\n"
    mod = load(
        project,
        base
        + "class Scarf(Wearable):\n    def swagger(self):\n        return super().swagger() * 2\n",
    )
    scarf = mod.Scarf()
    event = edit(
        project, mod, base + "class Scarf(Wearable):\n    def swagger(self):\n        return 1234\n"
    )
    assert scarf.swagger() == 1234
    assert "Scarf.swagger" in event.replaced  # its closure (__class__) went
    event = edit(
        project,
        mod,
        base
        + "class Scarf(Wearable):\n    def swagger(self):\n        return super().swagger() * 3\n",
    )
    # The new method's __class__ cell names the kept class, so super() works
    # on instances made before.
    assert scarf.swagger() == 15
    assert "Scarf.swagger" in event.replaced


def test_class_statements_aliases_and_module_functions_as_methods(
    project: Project, hook: hookreload.Hook
) -> None:
    # jurigged's glamour: test_add_class_statement.
    base = "class Wearable:\n    def swagger(self):\n        return 5\n"
    mod = load(
        project,
        base
        + "class Scarf(Wearable):\n    def swagger(self):\n        return super().swagger() * 2\n",
    )
    scarf = mod.Scarf()
    edit(
        project,
        mod,
        base
        + textwrap.dedent(
            """
            def outer(self):
                return "hello!"
            class Scarf(Wearable):
                def swagger(self):
                    return super(Scarf, self).swagger() * 10
                also_swagger = swagger
                hello = outer
            """
        ),
    )
    assert scarf.swagger() == 50
    assert scarf.also_swagger() == 50
    assert scarf.hello() == "hello!"
    assert vars(mod.Scarf)["hello"] is mod.outer


def test_nested_classes(project: Project, hook: hookreload.Hook) -> None:
    source = """
        class Outer:
            class Inner:
                def value(self):
                    return {n}
            def make(self):
                return self.Inner()
    """
    mod = load(project, source.format(n=1))
    inner_cls = mod.Outer.Inner
    inner = mod.Outer().make()
    edit(project, mod, source.format(n=2))
    assert mod.Outer.Inner is inner_cls
    assert inner.value() == 2
    assert isinstance(mod.Outer().make(), inner_cls)


def test_pickle_and_isinstance_for_instances_before_and_after(
    project: Project, hook: hookreload.Hook
) -> None:
    # autoreload's test_reload_class_type.
    mod = load(project, "class Test:\n    def meth(self):\n        return 'old'\n")
    before = mod.Test()
    edit(project, mod, "class Test:\n    def meth(self):\n        return 'new'\n")
    after = mod.Test()
    for obj in (before, after):
        assert isinstance(obj, mod.Test)
        assert getattr(mod, type(obj).__name__) is type(obj)
        copied = pickle.loads(pickle.dumps(obj))
        assert type(copied) is mod.Test
        assert copied.meth() == "new"
        assert type(copy.deepcopy(obj)) is mod.Test


def test_instances_made_while_the_new_version_executes_belong_to_the_kept_class(
    project: Project, hook: hookreload.Hook
) -> None:
    source = """
        class Config:
            def level(self):
                return {n}
        DEFAULT = Config()
        BY_NAME = {{"default": Config()}}
    """
    mod = load(project, source.format(n=1))
    cls = mod.Config
    edit(project, mod, source.format(n=2))
    assert isinstance(mod.DEFAULT, cls)
    assert type(mod.BY_NAME["default"]) is cls
    assert pickle.loads(pickle.dumps(mod.DEFAULT)).level() == 2


def test_an_instance_bound_by_name_keeps_its_identity_and_takes_the_new_state(
    project: Project, hook: hookreload.Hook
) -> None:
    source = """
        class Settings:
            def __init__(self):
                self.level = {n}
        SETTINGS = Settings()
    """
    mod = load(project, source.format(n=1))
    settings = mod.SETTINGS
    edit(project, mod, source.format(n=2))
    assert mod.SETTINGS is settings
    assert settings.level == 2


def test_added_subclass_of_a_kept_class(project: Project, hook: hookreload.Hook) -> None:
    base = "class Base:\n    def who(self):\n        return 'base{n}'\n"
    mod = load(project, base.format(n=1))
    kept = mod.Base
    edit(
        project,
        mod,
        base.format(n=2)
        + "class Child(Base):\n    def who(self):\n        return 'child+' + super().who()\n",
    )
    assert mod.Child.__bases__ == (kept,)
    assert issubclass(mod.Child, kept)
    assert mod.Child().who() == "child+base2"


def test_bases_changed_in_place(project: Project, hook: hookreload.Hook) -> None:
    mixin = "class Mixin:\n    def mixed(self):\n        return 'mixed'\n"
    mod = load(project, mixin + "class Base:\n    pass\nclass Child(Base):\n    pass\n")
    child = mod.Child()
    cls = mod.Child
    event = edit(
        project, mod, mixin + "class Base:\n    pass\nclass Child(Base, Mixin):\n    pass\n"
    )
    assert mod.Child is cls
    assert child.mixed() == "mixed"
    assert "Child" not in event.replaced


def test_slots_or_metaclass_changes_replace_the_class(
    project: Project, hook: hookreload.Hook
) -> None:
    mod = load(project, "class Point:\n    __slots__ = ('x',)\nclass Tagged:\n    pass\n")
    point, tagged = mod.Point, mod.Tagged
    event = edit(
        project,
        mod,
        "import abc\nclass Point:\n    __slots__ = ('x', 'y')\nclass Tagged(metaclass=abc.ABCMeta):\n    pass\n",
    )
    assert mod.Point is not point
    assert mod.Tagged is not tagged
    assert "__slots__" in event.replaced["Point"]
    assert "metaclass" in event.replaced["Tagged"]
    assert "Point" not in event.patched


def test_a_subclass_of_a_replaced_class_follows_it(project: Project, hook: hookreload.Hook) -> None:
    mod = load(
        project,
        "class Base:\n    __slots__ = ()\nclass Child(Base):\n    def f(self):\n        return 1\n",
    )
    child = mod.Child()
    event = edit(
        project,
        mod,
        "class Base:\n    __slots__ = ('x',)\nclass Child(Base):\n    def f(self):\n        return 2\n",
    )
    assert "Base" in event.replaced
    assert issubclass(mod.Child, mod.Base)
    assert mod.Child().f() == 2
    assert child.f() in (1, 2)  # patched in place when the layout allows, replaced otherwise


def test_dataclass_with_changed_fields(project: Project, hook: hookreload.Hook) -> None:
    mod = load(
        project,
        """
        from dataclasses import dataclass, field
        @dataclass
        class Point:
            x: int
            y: int = 0
            def norm(self):
                return abs(self.x) + abs(self.y)
        """,
    )
    cls = mod.Point
    before = mod.Point(1, 2)
    edit(
        project,
        mod,
        """
        from dataclasses import dataclass, field
        @dataclass
        class Point:
            x: int
            y: int = 0
            z: int = 5
            def norm(self):
                return abs(self.x) + abs(self.y) + abs(self.z)
        """,
    )
    assert mod.Point is cls
    after = mod.Point(1, 2, 3)
    assert after.norm() == 6
    assert repr(after) == "Point(x=1, y=2, z=3)"
    assert mod.Point(1) == mod.Point(1, 0, 5)
    assert [f.name for f in dataclasses.fields(cls)] == ["x", "y", "z"]
    # Made before: the new field's default comes from the class.
    assert before.norm() == 8
    assert repr(before) == "Point(x=1, y=2, z=5)"


def test_frozen_dataclass(project: Project, hook: hookreload.Hook) -> None:
    source = "from dataclasses import dataclass\n@dataclass(frozen=True)\nclass P:\n    x: int\n    def twice(self):\n        return self.x * {n}\n"
    mod = load(project, source.format(n=2))
    p = mod.P(1)
    edit(project, mod, source.format(n=3))
    assert p.twice() == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 2
    assert mod.P(1) == p
    assert hash(mod.P(1)) == hash(p)


def test_enums_keep_their_members(project: Project, hook: hookreload.Hook) -> None:
    # autoreload's test_reload_enums (a member added), with identity kept.
    mod = load(
        project,
        """
        from enum import Enum
        class Color(Enum):
            RED = 'r'
            GREEN = 'g'
            def describe(self):
                return 'old ' + self.name
        FAVOURITE = Color.RED
        """,
    )
    cls, red, green = mod.Color, mod.Color.RED, mod.Color.GREEN
    event = edit(
        project,
        mod,
        """
        from enum import Enum
        class Color(Enum):
            RED = 'rouge'
            GREEN = 'g'
            BLUE = 'b'
            def describe(self):
                return 'new ' + self.name
        FAVOURITE = Color.RED
        """,
    )
    assert mod.Color is cls
    assert mod.Color.RED is red and mod.Color.GREEN is green
    assert mod.FAVOURITE is red
    assert red.value == "rouge"
    assert cls("rouge") is red
    assert cls.BLUE.value == "b"
    assert isinstance(cls.BLUE, cls)
    assert list(cls) == [red, green, cls.BLUE]
    assert red.describe() == "new RED"
    assert pickle.loads(pickle.dumps(red)) is red
    assert "Color" in event.patched
    edit(project, mod, "from enum import Enum\nclass Color(Enum):\n    RED = 'rouge'\n")
    assert list(cls) == [red]
    assert not hasattr(cls, "GREEN")


def test_int_enum_members(project: Project, hook: hookreload.Hook) -> None:
    source = "from enum import IntEnum\nclass Level(IntEnum):\n    LOW = 1\n    HIGH = {high}\n"
    mod = load(project, source.format(high=2))
    low, high = mod.Level.LOW, mod.Level.HIGH
    edit(project, mod, source.format(high=3))
    assert mod.Level.LOW is low  # its value did not change
    assert mod.Level.HIGH is not high  # an int's value cannot change in place
    assert mod.Level.HIGH == 3
    assert isinstance(mod.Level.HIGH, mod.Level)


def test_abstract_classes_keep_their_virtual_subclasses(
    project: Project, hook: hookreload.Hook
) -> None:
    source = """
        import abc
        class Shape(abc.ABC):
            @abc.abstractmethod
            def area(self): ...
            {extra}
    """
    mod = load(project, source.format(extra=""))
    shape = mod.Shape

    class Square:
        def area(self) -> int:
            return 4

    shape.register(Square)
    edit(
        project,
        mod,
        source.format(extra="@abc.abstractmethod\n            def perimeter(self): ..."),
    )
    assert isinstance(Square(), shape)
    assert shape.__abstractmethods__ == {"area", "perimeter"}

    class Partial(shape):  # type: ignore[misc,valid-type]
        def area(self) -> int:
            return 1

    with pytest.raises(TypeError, match="abstract"):
        Partial()


def test_class_attributes_that_refuse_comparison(project: Project, hook: hookreload.Hook) -> None:
    # autoreload's test_comparing_numpy_structures, without numpy: values
    # whose == is not a bool must never be compared.
    source = """
        class Ambiguous:
            def __init__(self, v):
                self.v = v
            def __eq__(self, other):
                raise ValueError("the truth value is ambiguous")
            __hash__ = object.__hash__
        class MyClass:
            a = (Ambiguous({n}), Ambiguous({n}))
    """
    mod = load(project, source.format(n=1))
    first = mod.MyClass()
    edit(project, mod, source.format(n=2))
    assert first.a[0].v == 2


def test_methods_of_a_class_created_by_a_factory(project: Project, hook: hookreload.Hook) -> None:
    source = """
        def make():
            class Model:
                def save(self):
                    return {n}
            return Model
        Model = make()
    """
    mod = load(project, source.format(n=1))
    model = mod.Model()
    edit(project, mod, source.format(n=2))
    assert model.save() == 2


def test_namedtuple_classes(project: Project, hook: hookreload.Hook) -> None:
    source = "from typing import NamedTuple\nclass Pair(NamedTuple):\n    a: int\n    b: int\n    def total(self):\n        return (self.a + self.b) * {n}\n"
    mod = load(project, source.format(n=1))
    pair = mod.Pair(1, 2)
    edit(project, mod, source.format(n=10))
    assert pair.total() == 30
    assert isinstance(pair, mod.Pair)


def test_a_metaclass_defined_by_the_module(project: Project, hook: hookreload.Hook) -> None:
    source = """
        class Meta(type):
            def kind(cls):
                return {n}
        class Thing(metaclass=Meta):
            pass
    """
    mod = load(project, source.format(n=1))
    thing = mod.Thing
    edit(project, mod, source.format(n=2))
    assert mod.Thing is thing
    assert thing.kind() == 2


def test_enum_class_module_function_descriptor_mix(project: Project, hook: hookreload.Hook) -> None:
    # A module-defined descriptor class: its instances in a class are kept and follow.
    source = """
        class Field:
            def __init__(self, default):
                self.default = default
            def __get__(self, obj, owner=None):
                return self.default * {n}
        class Model:
            size = Field(2)
    """
    mod = load(project, source.format(n=1))
    field = vars(mod.Model)["size"]
    edit(project, mod, source.format(n=10))
    assert vars(mod.Model)["size"] is field
    assert mod.Model().size == 20


def test_slotted_instances_bound_by_name(project: Project, hook: hookreload.Hook) -> None:
    source = """
        class Point:
            __slots__ = ("x", "y")
            def __init__(self, x, y=None):
                self.x = x
                if y is not None:
                    self.y = y
        ORIGIN = Point({x}{y})
    """
    mod = load(project, source.format(x=0, y=", 5"))
    origin = mod.ORIGIN
    edit(project, mod, source.format(x=1, y=""))
    assert mod.ORIGIN is origin
    assert origin.x == 1
    assert not hasattr(origin, "y")  # unset in the new version


def test_instances_whose_data_lives_in_a_builtin_base_are_not_kept(
    project: Project, hook: hookreload.Hook
) -> None:
    source = """
        from typing import NamedTuple
        class Config(dict):
            pass
        class Ambiguous:
            def __eq__(self, other):
                raise ValueError("ambiguous")
            __hash__ = object.__hash__
        class Pair(NamedTuple):
            a: object
        CONFIG = Config(level={n})
        PAIR = Pair(Ambiguous())
    """
    mod = load(project, source.format(n=1))
    config, pair = mod.CONFIG, mod.PAIR
    edit(project, mod, source.format(n=2))
    assert mod.CONFIG is not config and mod.CONFIG["level"] == 2
    assert mod.PAIR is not pair
    assert type(config) is mod.Config  # the class is patched all the same


def test_virtual_subclasses_registered_by_the_new_version(
    project: Project, hook: hookreload.Hook
) -> None:
    source = """
        import abc
        class Shape(abc.ABC):
            pass
        class Square:
            pass
        {register}
    """
    mod = load(project, source.format(register=""))
    square = mod.Square()
    assert not isinstance(square, mod.Shape)
    edit(project, mod, source.format(register="Shape.register(Square)"))
    assert isinstance(square, mod.Shape)
