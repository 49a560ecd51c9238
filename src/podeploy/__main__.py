from podeploy.console import main

main()
