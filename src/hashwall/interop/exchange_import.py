"""``hashwall import --exchange NAME``: a list pulled from an exchange of the ``threatexchange``
tooling, as the lines :func:`hashwall.service.lists.import_list` banks.

``NAME`` is a collaboration the operator set up with ``threatexchange config collab edit`` (in
``$TX_STATEDIR``, by default ``~/.threatexchange``, with the extensions and credentials set up
there), or ``sample``: the package's static sample exchange. The exchange is fetched in full, in
memory (the tooling's own fetched state is left alone), and each value's opinions become trust:
``POSITIVE_CLASS`` is ``vouched``, ``INVESTIGATION_SEED`` and ``DISPUTED`` are ``unvouched``
(they answer ``review``), ``NEGATIVE_CLASS`` (a false positive, or test data) is refused as
``negative_opinion``. Signal types hashwall has no use for are refused as ``unsupported_type``.
"""

import os
import typing as t
from pathlib import Path

from hashwall.errors import InvalidInput, NotFound
from hashwall.hashing.signals import SIGNAL_TYPES
from hashwall.service.list_formats import TOOLING_TYPES, LineRefusal, ListLine

try:
    from threatexchange.cli import main as tx_main
    from threatexchange.cli.cli_config import CliState
    from threatexchange.exchanges import auth
    from threatexchange.exchanges.collab_config import CollaborationConfigBase
    from threatexchange.exchanges.fetch_state import AggregateSignalOpinionCategory
    from threatexchange.exchanges.impl.static_sample import StaticSampleSignalExchangeAPI
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "hashwall import --exchange needs the threatexchange package: "
        "pip install 'hashwall[interop]'"
    ) from exc

SAMPLE: t.Final = "sample"

_TRUST: t.Final = {
    AggregateSignalOpinionCategory.POSITIVE_CLASS: "vouched",
    AggregateSignalOpinionCategory.INVESTIGATION_SEED: "unvouched",
    AggregateSignalOpinionCategory.DISPUTED: "unvouched",
}


def state_dir() -> Path:
    """Where the tooling keeps its configuration (as its CLI finds it)."""
    return Path(os.getenv("TX_STATEDIR", "~/.threatexchange")).expanduser()


def exchange_lines(name: str) -> t.Iterator[ListLine | LineRefusal]:
    """Every value of collaboration ``name``, fetched now, with its opinions as trust."""
    directory = state_dir()
    config = CliState([], directory).get_persistent_config()
    settings, extensions = tx_main._get_settings(config, directory)
    if extensions.load_failures:
        raise InvalidInput(
            "the threatexchange set-up names extensions that do not load: "
            + ", ".join(extensions.load_failures)
        )
    collab = settings.get_collab(name)
    if collab is None and name == SAMPLE:
        collab = CollaborationConfigBase(
            "Sample Signals", StaticSampleSignalExchangeAPI.get_name(), enabled=True
        )
    if collab is None:
        raise NotFound(
            f"no threatexchange collaboration named {name!r} in {directory}: set one up with "
            "`threatexchange config collab edit`, or use `sample`"
        )
    signal_types = settings.get_all_signal_types()
    with tx_main._handle_api_creds(config):  # the credentials `threatexchange config api` set
        try:
            api = settings.apis.get_instance_for_collab(collab)
            fetched: dict[t.Any, t.Any] = {}
            for delta in api.fetch_iter(signal_types, None):
                api.naive_fetch_merge(fetched, delta.updates)
        except (
            auth.SignalExchangeAPIMissingAuthException,
            auth.SignalExchangeAPIInvalidAuthException,
        ) as exc:
            detail = exc.pretty_str() if hasattr(exc, "pretty_str") else exc.message
            raise InvalidInput(f"cannot read {name!r}: {detail}") from None
        by_type = api.naive_convert_to_signal_type(signal_types, collab, fetched)
    number = 0
    for s_type, values in by_type.items():
        tx_name = s_type.get_name()
        hw_type, kind = TOOLING_TYPES.get(tx_name, (tx_name, "image"))
        for value, metadata in values.items():
            number += 1
            if hw_type not in SIGNAL_TYPES:
                yield LineRefusal(number, "unsupported_type", f"hashwall has no {tx_name} type")
                continue
            category = metadata.get_as_aggregate_opinion().category
            trust = _TRUST.get(category)
            if trust is None:
                yield LineRefusal(
                    number, "negative_opinion", f"the exchange's opinion is {category.name}"
                )
                continue
            yield ListLine(number, hw_type, value, kind, trust)  # type: ignore[arg-type]
