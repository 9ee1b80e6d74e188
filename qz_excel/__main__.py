from qz_excel.cli import main

if __name__ == "__main__":  # guarded: worker processes may import this module
    main()
