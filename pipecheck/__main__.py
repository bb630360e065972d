from pipecheck.cli import main

main()
