from seggraph.cli import main

main()
