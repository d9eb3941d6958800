"""YOLOv7's OTA loss: which predictions answer for which label, then box/obj/cls losses.

Assignment, as upstream's ComputeLossOTA (SimOTA):
1. centre prior: for every label, the anchors whose shape ratio is under `anchor_t`, in
   the label's own grid cell and its two nearest neighbours (g=0.5, "3 positive"; the aux
   head uses g=1.0, all four neighbours, "5 positive");
2. cost of each (label, candidate) pair = classification BCE + 3 * (-log IoU);
3. dynamic k per label = sum of its top IoUs (at least 1): it keeps its k cheapest
   candidates; a candidate claimed by several labels goes to the cheapest one.

Unlike upstream, every tensor lives on the targets' device (CPU, any cuda:N), a batch
without labels works, and boxes scale by each side of the image (rect batches).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from y7deploy.train.metrics import bbox_ciou, box_iou, xywh2xyxy

# Objectness weight per level, small strides first (upstream's "balance").
BALANCE = {3: [4.0, 1.0, 0.4]}
BALANCE_DEFAULT = [4.0, 1.0, 0.25, 0.06, 0.02]
AUX_WEIGHT = 0.25  # the auxiliary head's share of every loss term


def head_of(model: nn.Module) -> nn.Module:
    """The detection head (last layer), looking through DDP/EMA wrappers."""
    m = model.module if hasattr(model, "module") else model
    return m.model[-1]


def _bce(logits: torch.Tensor, target: torch.Tensor, pos_weight: float, gamma: float) -> torch.Tensor:
    """Mean BCE-with-logits, optionally focal (gamma > 0, alpha 0.25) as upstream's FocalLoss."""
    pw = torch.tensor([pos_weight], device=logits.device, dtype=logits.dtype)
    loss = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pw, reduction="none")
    if gamma > 0:
        prob = torch.sigmoid(logits)
        p_t = target * prob + (1 - target) * (1 - prob)
        alpha = target * 0.25 + (1 - target) * 0.75
        loss = loss * alpha * (1.0 - p_t) ** gamma
    return loss.mean()


class Assignment:
    """Matched predictions for one level: image, anchor, grid y, grid x, label row, anchor wh."""

    def __init__(self, b, a, gj, gi, targets, anchors):
        self.b, self.a, self.gj, self.gi, self.targets, self.anchors = b, a, gj, gi, targets, anchors

    @classmethod
    def empty(cls, device: torch.device) -> "Assignment":
        z = torch.zeros(0, dtype=torch.long, device=device)
        return cls(z, z, z, z, torch.zeros((0, 6), device=device), torch.zeros((0, 2), device=device))

    def __len__(self) -> int:
        return int(self.b.shape[0])


class OTALoss:
    """Callable: (predictions, targets [n,6], imgs) -> (loss * batch, [box, obj, cls, total])."""

    def __init__(self, model: nn.Module, hyp: dict):
        det = head_of(model)
        self.hyp = hyp
        self.nl, self.na, self.nc = det.nl, det.na, det.nc
        self.anchors = det.anchors.detach()  # [nl, na, 2], grid units
        self.stride = det.stride.detach()
        self.balance = BALANCE.get(self.nl, BALANCE_DEFAULT)
        eps = float(hyp.get("label_smoothing", 0.0))
        self.cp, self.cn = 1.0 - 0.5 * eps, 0.5 * eps  # positive / negative class targets
        self.gr = float(hyp.get("gr", 1.0))  # objectness target = IoU (gr=1) or 1 (gr=0)
        self.gamma = float(hyp.get("fl_gamma", 0.0))

    # -- the public call ---------------------------------------------------------------
    def __call__(self, p: list[torch.Tensor], targets: torch.Tensor, imgs: torch.Tensor):
        lead = self.assign(p[: self.nl], targets, imgs.shape[-2:], centre_g=0.5, topk=10)
        terms = self._level_losses(p[: self.nl], lead, targets.device)
        return self._total(terms, p[0].shape[0])

    # -- assignment ----------------------------------------------------------------------
    def candidates(self, p: list[torch.Tensor], targets: torch.Tensor, g: float):
        """Centre prior: per level, (b, a, gj, gi, anchor wh) of the candidate cells of all labels."""
        device = targets.device
        na, nt = self.na, targets.shape[0]
        anchors_all = self.anchors.to(device)
        ai = torch.arange(na, device=device).float().view(na, 1).repeat(1, nt)
        t_all = torch.cat((targets.repeat(na, 1, 1), ai[..., None]), 2)  # [na, nt, 7]: + anchor index
        off = torch.tensor([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]], device=device).float() * g
        out = []
        for i in range(self.nl):
            anchors = anchors_all[i]
            ny, nx = p[i].shape[2], p[i].shape[3]
            gain = torch.tensor([1, 1, nx, ny, nx, ny, 1], device=device, dtype=targets.dtype)
            t = t_all * gain
            if nt:
                r = t[..., 4:6] / anchors[:, None]
                keep = torch.max(r, 1.0 / r).max(2)[0] < self.hyp.get("anchor_t", 4.0)
                t = t[keep]
                gxy = t[:, 2:4]
                gxi = gain[[2, 3]] - gxy
                j, k = ((gxy % 1.0 < g) & (gxy > 1.0)).T
                l, m = ((gxi % 1.0 < g) & (gxi > 1.0)).T
                sel = torch.stack((torch.ones_like(j), j, k, l, m))
                t = t.repeat((5, 1, 1))[sel]
                offsets = (torch.zeros_like(gxy)[None] + off[:, None])[sel]
            else:
                t = t_all[0][:0]
                offsets = torch.zeros((0, 2), device=device)
            b = t[:, 0].long()
            gij = (t[:, 2:4] - offsets).long()
            gi = gij[:, 0].clamp(0, nx - 1)
            gj = gij[:, 1].clamp(0, ny - 1)
            a = t[:, 6].long()
            out.append((b, a, gj, gi, anchors[a]))
        return out

    def assign(self, p: list[torch.Tensor], targets: torch.Tensor, img_hw, centre_g: float, topk: int) -> list[Assignment]:
        """SimOTA: pick, per label, its dynamic-k cheapest candidates across all levels."""
        device = targets.device
        h, w = int(img_hw[0]), int(img_hw[1])
        cands = self.candidates(p, targets, centre_g)
        stride = self.stride.to(device)
        scale = torch.tensor([w, h, w, h], device=device, dtype=targets.dtype)
        per_level: list[list[tuple]] = [[] for _ in range(self.nl)]
        for bi in range(p[0].shape[0]):
            rows = (targets[:, 0] == bi).nonzero().view(-1)
            if not rows.numel():
                continue
            this = targets[rows]
            t_xyxy = xywh2xyxy(this[:, 2:6] * scale)
            pieces = []  # per level: ([level, b, a, gj, gi] rows, anchor wh) of this image's candidates
            boxes, objs, clss = [], [], []
            for i, (b, a, gj, gi, anch) in enumerate(cands):
                sel = b == bi
                b, a, gj, gi, anch = b[sel], a[sel], gj[sel], gi[sel], anch[sel]
                fg = p[i][b, a, gj, gi].float()
                grid = torch.stack([gi, gj], dim=1)
                pxy = (fg[:, :2].sigmoid() * 2.0 - 0.5 + grid) * stride[i]
                pwh = (fg[:, 2:4].sigmoid() * 2) ** 2 * anch * stride[i]
                boxes.append(xywh2xyxy(torch.cat([pxy, pwh], 1)))
                objs.append(fg[:, 4:5])
                clss.append(fg[:, 5:])
                pieces.append((torch.stack([torch.full_like(b, i), b, a, gj, gi], 1), anch))
            cand = torch.cat([x[0] for x in pieces])
            if not cand.shape[0]:
                continue
            cand_anch = torch.cat([x[1] for x in pieces])
            pboxes, pobj, pcls = torch.cat(boxes), torch.cat(objs), torch.cat(clss)
            with torch.no_grad():
                matched_gt, fg_mask = self._dynamic_k(t_xyxy, this[:, 1], pboxes, pobj, pcls, topk)
            cand, cand_anch = cand[fg_mask], cand_anch[fg_mask]
            matched = this[matched_gt]
            for i in range(self.nl):
                on = cand[:, 0] == i
                per_level[i].append((cand[on], matched[on], cand_anch[on]))
        result = []
        for i in range(self.nl):
            if not per_level[i]:
                result.append(Assignment.empty(device))
                continue
            c = torch.cat([x[0] for x in per_level[i]])
            result.append(Assignment(c[:, 1], c[:, 2], c[:, 3], c[:, 4],
                                     torch.cat([x[1] for x in per_level[i]]),
                                     torch.cat([x[2] for x in per_level[i]])))
        return result

    def _dynamic_k(self, t_xyxy, t_cls, pboxes, pobj, pcls, topk: int):
        """Which candidates become positives, and the label each one answers for."""
        num_gt, num_c = t_xyxy.shape[0], pboxes.shape[0]
        iou = box_iou(t_xyxy, pboxes)
        iou_cost = -torch.log(iou + 1e-8)
        top, _ = torch.topk(iou, min(topk, num_c), dim=1)
        dynamic_k = top.sum(1).int().clamp(min=1)
        gt_onehot = F.one_hot(t_cls.long(), self.nc).float()[:, None, :].expand(num_gt, num_c, self.nc)
        score = (pcls.sigmoid() * pobj.sigmoid()).sqrt()[None].expand(num_gt, num_c, self.nc)
        score = score.clamp(1e-6, 1 - 1e-6)
        cls_cost = F.binary_cross_entropy_with_logits(torch.log(score / (1 - score)), gt_onehot, reduction="none").sum(-1)
        cost = cls_cost + 3.0 * iou_cost
        # each label keeps its dynamic_k cheapest candidates
        order = cost.argsort(dim=1)
        ranks = torch.arange(num_c, device=cost.device)[None].expand(num_gt, num_c)
        matching = torch.zeros_like(cost)
        matching.scatter_(1, order, (ranks < dynamic_k[:, None]).float())
        # a candidate claimed twice goes to its cheapest label
        shared = matching.sum(0) > 1
        if shared.any():
            cheapest = cost[:, shared].argmin(0)
            matching[:, shared] = 0.0
            matching[cheapest, shared.nonzero().view(-1)] = 1.0
        fg_mask = matching.sum(0) > 0
        matched_gt = matching[:, fg_mask].argmax(0)
        return matched_gt, fg_mask

    # -- loss terms ----------------------------------------------------------------------
    def _level_losses(self, p: list[torch.Tensor], assigned: list[Assignment], device) -> torch.Tensor:
        """[box, obj, cls] summed over levels, before the hyp gains."""
        lbox = torch.zeros(1, device=device)
        lobj = torch.zeros(1, device=device)
        lcls = torch.zeros(1, device=device)
        for i, pi in enumerate(p):
            m = assigned[i]
            tobj = torch.zeros_like(pi[..., 0])
            n = len(m)
            if n:
                ps = pi[m.b, m.a, m.gj, m.gi]
                grid = torch.stack([m.gi, m.gj], dim=1)
                pxy = ps[:, :2].sigmoid() * 2.0 - 0.5
                pwh = (ps[:, 2:4].sigmoid() * 2) ** 2 * m.anchors
                gain = torch.tensor([pi.shape[3], pi.shape[2]] * 2, device=device, dtype=m.targets.dtype)
                tbox = m.targets[:, 2:6] * gain
                tbox[:, :2] -= grid
                iou = bbox_ciou(torch.cat((pxy, pwh), 1).float(), tbox)
                lbox = lbox + (1.0 - iou).mean()
                tobj[m.b, m.a, m.gj, m.gi] = ((1.0 - self.gr) + self.gr * iou.detach().clamp(0)).to(tobj.dtype)
                if self.nc > 1:  # one class needs no class loss
                    t = torch.full_like(ps[:, 5:], self.cn)
                    t[torch.arange(n, device=device), m.targets[:, 1].long()] = self.cp
                    lcls = lcls + _bce(ps[:, 5:], t, self.hyp.get("cls_pw", 1.0), self.gamma)
            lobj = lobj + _bce(pi[..., 4], tobj, self.hyp.get("obj_pw", 1.0), self.gamma) * self.balance[i]
        return torch.cat((lbox, lobj, lcls))

    def _total(self, terms: torch.Tensor, batch_size: int):
        gains = torch.tensor([self.hyp["box"], self.hyp["obj"], self.hyp["cls"]], device=terms.device)
        terms = terms * gains
        loss = terms.sum()
        return loss * batch_size, torch.cat((terms, loss[None])).detach()


class AuxOTALoss(OTALoss):
    """For IAuxDetect (P6) models: lead levels then aux levels, the aux ones weighted 0.25.

    Both assignments use the lead predictions, as upstream; the aux one is looser
    (all four neighbour cells) so the aux head learns from more positives.
    """

    def __call__(self, p: list[torch.Tensor], targets: torch.Tensor, imgs: torch.Tensor):
        lead_p, aux_p = p[: self.nl], p[self.nl : 2 * self.nl]
        hw = imgs.shape[-2:]
        lead = self.assign(lead_p, targets, hw, centre_g=0.5, topk=20)
        aux = self.assign(lead_p, targets, hw, centre_g=1.0, topk=20)
        terms = self._level_losses(lead_p, lead, targets.device)
        terms = terms + AUX_WEIGHT * self._level_losses(aux_p, aux, targets.device)
        return self._total(terms, p[0].shape[0])


def build_loss(model: nn.Module, hyp: dict) -> OTALoss:
    """The OTA loss that fits the model's head: aux variant when it has auxiliary outputs."""
    det = head_of(model)
    is_aux = type(det).__name__ == "IAuxDetect" or hasattr(det, "m2")
    return AuxOTALoss(model, hyp) if is_aux else OTALoss(model, hyp)
