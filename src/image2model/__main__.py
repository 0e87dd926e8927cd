from image2model.cli import main

raise SystemExit(main())
