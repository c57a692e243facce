"""The latency floor of ``benchmarks/widget_latency.py``: a slider whose step only swaps precomputed PNGs.

Each of its 41 frames is a palette PNG of 680 x 300 pixels with a line drawn on white (about the size of
an explorer's frame), so a step costs JupyterLab, the comm and the browser, and no Python work."""
import io


def floor_explorer():
    import ipywidgets as W
    import numpy as np
    from PIL import Image, ImageDraw
    frames = []
    for k in range(41):
        img = Image.new("RGB", (680, 300), "white")
        d = ImageDraw.Draw(img)
        xs = np.linspace(0, 679, 200)
        d.line(list(zip(xs, 150 + 100 * np.sin(xs / 60 + k / 5))), fill=(31, 119, 180), width=2)
        buf = io.BytesIO()
        img.quantize(96).save(buf, format="png", compress_level=1)
        frames.append(buf.getvalue())
    slider = W.IntSlider(0, min=0, max=40, step=1, description="frame", style={"description_width": "initial"})
    image = W.Image(value=frames[0], format="png")
    slider.observe(lambda ch: setattr(image, "value", frames[ch["new"]]), names="value")
    return W.VBox([W.HBox([slider]), image])
