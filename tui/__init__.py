"""The Textual app over the results store (`sparsest tui`): build a sweep, watch it run,
read the leaderboard live, inspect a model, query the store.

Entry point: `tui.app.make_app(db_path).run()`. Nothing outside tui imports it.
"""
