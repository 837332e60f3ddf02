from virtiospec.cli import main

main()
