from rnnzoo.cli import main

raise SystemExit(main())
