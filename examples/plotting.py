"""Plots of test accuracy against training time for the examples."""


def plot_curves(curves, path, title):
    """Writes a PNG of accuracy against cumulative training time.

    Args:
      curves: dict name -> list of (training seconds, accuracy) per epoch.
      path: output .png path.
      title: plot title.
    Returns:
      path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for name, points in curves.items():
        seconds, accuracy = zip(*points)
        axes.plot(seconds, accuracy, marker="o", label=name)
    axes.set_xlabel("training time (s)")
    axes.set_ylabel("test top-1 accuracy")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
