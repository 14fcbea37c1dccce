"""``python -m lakepulse_cdc_emitter`` runs the emitter, like the console script."""

import sys

from lakepulse_cdc_emitter.main import main

sys.exit(main())
