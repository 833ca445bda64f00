"""``python -m kubectl_plugin``: the same as the ``kubectl-smlogs`` console script."""

from kubectl_plugin.smlogs import main

if __name__ == "__main__":
    main()
