from qz_excel.cli import main

main()
