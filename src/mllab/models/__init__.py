"""Models built from layers: MLP, CNN, seq2seq, GAN nets, auto-encoders."""

from mllab.models.deepnet import DeepNet
from mllab.models.mlp import MLP

__all__ = ["DeepNet", "MLP"]

from mllab.models.cnn import CNN  # noqa: E402  (section cnn)

__all__ += ["CNN"]

from mllab.models.taggers import AttentionTagger, GRUTagger, WindowMLPTagger  # noqa: E402  (section attention)

__all__ += ["AttentionTagger", "GRUTagger", "WindowMLPTagger"]

from mllab.models.vit import ConvAsAttention, ViT  # noqa: E402  (section attention)

__all__ += ["ConvAsAttention", "ViT"]

from mllab.models.autoencoder import ConvAutoencoder, MLPAutoencoder  # noqa: E402  (section generative)
from mllab.models.gan import ConvCritic, ConvGenerator, MLPCritic, MLPGenerator  # noqa: E402

__all__ += ["ConvAutoencoder", "MLPAutoencoder", "ConvCritic", "ConvGenerator", "MLPCritic", "MLPGenerator"]

from mllab.models.transformer import Seq2SeqTransformer  # noqa: E402  (section seq2seq)

__all__ += ["Seq2SeqTransformer"]

from mllab.models.nat import NATransformer  # noqa: E402  (section seq2seq)
from mllab.models.multilabel import CanvasSeq2Seq, CanvasSigmoid  # noqa: E402

__all__ += ["NATransformer", "CanvasSeq2Seq", "CanvasSigmoid"]
