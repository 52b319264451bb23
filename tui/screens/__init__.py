"""One module per screen: builder, runs, leaderboard, inspector, sql."""
