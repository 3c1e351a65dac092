"""DGL-compatible graph layers and deep model builders."""
from .gatconv import GATConv
from .gatv2conv import GATv2Conv
from .graphconv import GraphConv
from .models import GAT, GCN
from .sage import SAGE

__all__ = ["GATConv", "GATv2Conv", "GraphConv", "GAT", "GCN", "SAGE"]
