"""Restore a backup the backup timers wrote (see README "Backups and restore"):

    pyinfra INVENTORY restore.py --limit HOST --data restore_kind=prometheus
    pyinfra INVENTORY restore.py --limit HOST --data restore_kind=grafana \
        --data restore_backup=grafana-20260101T030000Z

The backup is checked first (it exists, it verifies); only then is the service stopped,
its data moved aside to <data folder>.before-restore-<time> (kept), the backup put in
place, the service started and waited for until ready.
"""

from operations import stack  # noqa: F401  (defines the catalogue)
from operations.base.restore import plan

plan()
