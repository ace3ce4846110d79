"""The node's flows, one module per seam, composed by :class:`accord.node.service.NodeService`.

journal (events, decisions, transactions) <- admission, signing <- outbound <- receipts, inbound, consent; reads.
"""
