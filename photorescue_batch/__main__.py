from photorescue_batch.cli import main

raise SystemExit(main())
