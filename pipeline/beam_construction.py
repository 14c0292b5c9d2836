"""Memoizes two pure computations Apache Beam repeats while it builds a pipeline in this
process, for the components LocalDagRunner runs here (`install`, called by the runner).

Beam 2.77 derives a DoFn's state and timer specs (`userstate.get_dofn_specs`: one
`inspect.signature` per method of the DoFn) each time it asks whether the DoFn is
stateful: when the ParDo is applied, when the pipeline is turned into its runner API
form, in the DirectRunner's visitors and per bundle processor. A small taxi run asked
about 7,000 times for about 800 DoFns. And every `PipelineOptions.view_as` builds an
argparse parser of its options class and parses the same flags again (about 4,900
times in that run). Both answers depend only on the DoFn object and on the options
class and flags, so each is computed once here:

- the specs per DoFn object (held through a weak reference, so a collected DoFn's entry
  goes with it and an id reused by a new object is never mistaken for it); callers get
  sets of their own, as from Beam;
- the parsed flags per (options class, flags), deep-copied for every new options
  object, so no two objects share a mutable value (e.g. the list of `--experiments`).
  A default Beam reads from the environment (`BEAM_SERVICE_OVERRIDES`) is read when a
  class and its flags are first parsed in the process.

Side by side on 2,000 taxi rows in one process, the Beam components took about 30 %
less (bench/SUITE.md). Beam versions other than the one it was checked against
(`VERIFIED_BEAM`) are left alone: the patched functions are Beam internals.
"""

import copy
import logging
import weakref

VERIFIED_BEAM = "2.77."

_installed = False


def verified(beam_version: str) -> bool:
    return beam_version.startswith(VERIFIED_BEAM)


def install() -> bool:
    """Installs both caches once per process; False (nothing changed) on a Beam version
    other than `VERIFIED_BEAM`."""
    global _installed
    import apache_beam

    if _installed:
        return True
    if not verified(apache_beam.__version__):
        return False
    _cache_dofn_specs()
    _cache_option_parsing()
    _installed = True
    return True


def _cache_dofn_specs() -> None:
    from apache_beam.runners.direct import transform_evaluator
    from apache_beam.transforms import userstate

    compute = userstate.get_dofn_specs
    known: dict[int, tuple] = {}

    def get_dofn_specs(dofn):
        key = id(dofn)
        entry = known.get(key)
        if entry is not None and entry[0]() is dofn:
            return set(entry[1]), set(entry[2])
        state_specs, timer_specs = compute(dofn)
        try:
            ref = weakref.ref(dofn, lambda _, key=key: known.pop(key, None))
        except TypeError:  # an object without weak references is not remembered
            return state_specs, timer_specs
        known[key] = (ref, frozenset(state_specs), frozenset(timer_specs))
        return state_specs, timer_specs

    get_dofn_specs.__wrapped__ = compute

    # is_stateful_dofn and validate_stateful_dofn look the function up in userstate's
    # namespace; the DirectRunner's evaluators imported it by name.
    userstate.get_dofn_specs = get_dofn_specs
    transform_evaluator.get_dofn_specs = get_dofn_specs


def _cache_option_parsing() -> None:
    from apache_beam.options.pipeline_options import PipelineOptions

    parse = PipelineOptions.__init__
    parsed: dict[tuple, object] = {}

    def __init__(self, flags=None, **kwargs):
        # Flags None means sys.argv, which may change; a str is Beam's own error.
        if flags is None or isinstance(flags, str):
            return parse(self, flags, **kwargs)
        key = (type(self), tuple(flags))
        namespace = parsed.get(key)
        if namespace is None:
            parse(self, flags, **kwargs)
            parsed[key] = copy.deepcopy(self._visible_options)
            return None
        # The rest of Beam's __init__, with the parse replaced by a copy of its result.
        logging.basicConfig()
        self._flags = flags
        self._visible_options = copy.deepcopy(namespace)
        self._all_options = kwargs
        for option_name in self._visible_option_list():
            if option_name not in self._all_options:
                self._all_options[option_name] = getattr(self._visible_options, option_name)
        return None

    __init__.__wrapped__ = parse
    PipelineOptions.__init__ = __init__
