from __future__ import annotations

import sys

from supabase_local.cli import main

sys.exit(main())
