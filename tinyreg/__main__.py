from tinyreg.cli import main

raise SystemExit(main())
