"""`campaign-bot serve` (issue 19): the submission page, the Zalo OA inbox and the review queue.

The campaign folder stays the one source of truth: a submission waits in the store until a reviewer
approves it, and approving writes an ordinary story file into ``content/`` (validated by the loader
first), which the next tick plans like any other.
"""
