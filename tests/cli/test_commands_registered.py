"""Every sub-command module is imported and registered (a missing one fails loudly)."""

from pathlib import Path

import blurkit.cli as cli


def test_every_command_module_is_listed_and_registered():
    files = sorted(p.stem[4:] for p in Path(cli.__file__).parent.glob("cmd_*.py"))
    assert sorted(cli._COMMANDS) == files
    names = {c.name or c.callback.__name__ for c in cli.app.registered_commands}
    assert {n.replace("_", "-") for n in cli._COMMANDS} <= {n.replace("_", "-") for n in names}
