"""A health model as workers rebuild it: rules and playbooks by name, nothing opaque.

A :class:`~custsuccess.health.model.HealthModel` holds its registry (a pluggy manager,
thread locks) and contribution records; none of that belongs on the wire. Instead the
client sends a :class:`ModelSpec`: weights, thresholds and, per rule and playbook, its
name and plugin. The worker builds its own :class:`~custsuccess.plugins.Registry` (the
built-ins and the installed entry-point plugins, once per process) and takes each
contribution from it by name. Only a rule that the default registry cannot give back
unchanged (one passed explicitly, or configured with other parameters) travels as an
object, pickled by reference to its importable class; one defined in ``__main__`` or
otherwise unpicklable is refused on the client with a ValidationError.
"""

from __future__ import annotations

import json
import os
import pickle
import threading
from typing import TYPE_CHECKING, Any, Final

import attrs

from custsuccess.errors import ValidationError

if TYPE_CHECKING:
    from custsuccess.health.model import HealthModel
    from custsuccess.plugins import Contribution, Registry

__all__ = ["ContributionSpec", "ModelSpec", "build_model", "model_spec"]

_RULE_HOOK: Final = "register_health_rules"
_PLAYBOOK_HOOK: Final = "register_playbooks"

_registry_lock = threading.Lock()
_registries: dict[bool, Registry] = {}  # one default registry per process and flag


def default_registry() -> Registry:
    """This process's default registry (built-ins and entry points, unless
    ``CUSTSUCCESS_DISABLE_PLUGIN_AUTOLOAD`` is set), built once per setting."""
    from custsuccess.plugins import AUTOLOAD_ENV_VAR, Registry

    autoload = not os.environ.get(AUTOLOAD_ENV_VAR)
    with _registry_lock:
        registry = _registries.get(autoload)
        if registry is None:
            registry = _registries[autoload] = Registry()
        return registry


@attrs.frozen(slots=True)
class ContributionSpec:
    """A rule or playbook: by ``name`` and ``plugin`` from the worker's registry, or
    ``value`` itself when the registry cannot rebuild it."""

    name: str
    plugin: str
    hook: str
    value: Any = None


@attrs.frozen(slots=True)
class ModelSpec:
    """Everything a worker needs to rebuild a HealthModel: a learned model's fitted part
    travels as the JSON text of :meth:`LearnedScorer.to_dict`."""

    rules: tuple[ContributionSpec, ...]
    weights: tuple[tuple[str, float], ...]
    good: float
    poor: float
    playbooks: tuple[ContributionSpec, ...]
    learned: str | None = None


def _same(a: Any, b: Any) -> bool:
    """Whether ``a`` is a copy of ``b``: same class, same fields."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    try:
        if attrs.has(type(a)):
            return bool(a == b)
        fields_a, fields_b = getattr(a, "__dict__", None), getattr(b, "__dict__", None)
        return fields_a is not None and bool(fields_a == fields_b)
    except Exception:  # an eq that raises: not the same
        return False


def _spec(contribution: Contribution[Any], known: Any) -> ContributionSpec:
    found = known.get(contribution.name)
    if (
        found is not None
        and found.plugin == contribution.plugin
        and _same(found.value, contribution.value)
    ):
        return ContributionSpec(contribution.name, contribution.plugin, contribution.hook)
    value = contribution.value
    module = type(value).__module__
    problem = None
    if module == "__main__":
        problem = "its class is defined in __main__, which the workers cannot import"
    else:
        try:
            pickle.loads(pickle.dumps(value))
        except Exception as exc:
            problem = f"it cannot be pickled by reference ({type(exc).__name__}: {exc})"
    if problem is not None:
        what = "health rule" if contribution.hook == _RULE_HOOK else "playbook"
        raise ValidationError(
            f"{what} {contribution.name!r} (plugin {contribution.plugin!r}) cannot run on "
            f"the workers: {problem}. Install it as a plugin (entry point group "
            "'custsuccess') or define it in an importable module"
        )
    return ContributionSpec(contribution.name, contribution.plugin, contribution.hook, value)


def model_spec(model: HealthModel) -> ModelSpec:
    """The spec of ``model`` (a ValidationError for a rule the workers cannot rebuild)."""
    registry = default_registry()
    rules = registry.health_rules()
    playbooks = registry.playbooks()
    learned = model.learned
    return ModelSpec(
        rules=tuple(_spec(c, rules) for c in model._rules),
        weights=tuple(model.weights.items()),
        good=model.thresholds[0],
        poor=model.thresholds[1],
        playbooks=tuple(_spec(c, playbooks) for c in model._playbooks),
        learned=None if learned is None else json.dumps(learned.to_dict(), allow_nan=False),
    )


_models_lock = threading.Lock()
_models: dict[ModelSpec, HealthModel] = {}


def _contribution(spec: ContributionSpec, known: Any) -> Contribution[Any]:
    from custsuccess.plugins import Contribution

    if spec.value is not None:
        return Contribution(spec.name, spec.plugin, spec.hook, spec.value)
    found = known.get(spec.name)
    if found is None or found.plugin != spec.plugin:
        raise ValidationError(
            f"{spec.name!r} of plugin {spec.plugin!r} is not installed on this worker: "
            "install the same plugins on the workers as on the client"
        )
    result: Contribution[Any] = found
    return result


def build_model(spec: ModelSpec) -> HealthModel:
    """The HealthModel of ``spec``, built once per worker process."""
    from custsuccess.health.model import HealthModel

    key = spec
    try:
        with _models_lock:
            cached = _models.get(key)
    except TypeError:  # an unhashable rule object: build every time
        cached = None
        key = None  # type: ignore[assignment]
    if cached is not None:
        return cached
    registry = default_registry()
    rules = [_contribution(r, registry.health_rules()) for r in spec.rules]
    playbooks = [_contribution(p, registry.playbooks()) for p in spec.playbooks]
    learned = None
    if spec.learned is not None:
        from custsuccess.health.learn import LearnedScorer

        learned = LearnedScorer.from_dict(json.loads(spec.learned))
    model = HealthModel(
        rules, dict(spec.weights), good=spec.good, poor=spec.poor, playbooks=playbooks,
        learned=learned,
    )
    if key is not None:
        with _models_lock:
            _models[key] = model
    return model
