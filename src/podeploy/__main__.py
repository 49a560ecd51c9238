from podeploy.cli.main import main

main()
