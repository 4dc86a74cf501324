import sys

from svae_tts.cli import main

sys.exit(main())
