from witnessbox.cli import main

main()
