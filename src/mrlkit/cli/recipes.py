"""``mrlkit recipes``: list the shipped recipes and print one as YAML to save and edit."""

from __future__ import annotations

from typing import Annotated

import typer

recipes_app = typer.Typer(help="List the shipped recipes; show one as YAML to save and edit.")


@recipes_app.callback(invoke_without_command=True)
def list_recipes(ctx: typer.Context) -> None:
    """List the recipes, one line each; ``mrlkit finetune --recipe NAME`` uses one."""
    if ctx.invoked_subcommand is not None:
        return
    from mrlkit.recipes import recipe_names, recipe_summary

    names = recipe_names()
    width = max(len(n) for n in names)
    for name in names:
        typer.echo(f"{name:<{width}}  {recipe_summary(name)}")
    typer.echo("\nshow one: mrlkit recipes show NAME   use one: mrlkit finetune --recipe NAME --data FILE")


@recipes_app.command("show")
def show_recipe(name: Annotated[str, typer.Argument(help="A name that mrlkit recipes lists.")]) -> None:
    """Print a recipe's YAML with its comments (save it, edit it, pass it to --config)."""
    from mrlkit.cli.app import _user_errors
    from mrlkit.recipes import recipe_text

    with _user_errors():
        typer.echo(recipe_text(name), nl=False)
