"""Tây Ninh's agencies as the simulator presents them (names before the July 2025 merger).

Codes follow the national agency-identifier scheme ``xxx.yy.zz.H53``: a province-level department
or a district is ``000.00.zz``, a unit under it ``000.yy.zz`` and a unit one level further
``xxx.yy.zz``. The Land Registration Office (``000.01.15``) sits under the Department of Natural
Resources and Environment (``000.00.15``) and its district branches under it.
"""

from __future__ import annotations

from typing import Final

DEPARTMENTS: Final[tuple[tuple[int, str, tuple[str, ...]], ...]] = (
    (
        15,
        "Sở Tài nguyên và Môi trường",
        (
            "giấy phép khai thác nước mặt",
            "giấy phép xả nước thải vào nguồn nước",
            "giấy phép thăm dò khoáng sản",
            "giấy phép khai thác khoáng sản",
            "giấy phép môi trường",
            "giấy phép hành nghề khoan nước dưới đất",
        ),
    ),
    (
        5,
        "Sở Tư pháp",
        (
            "phiếu lý lịch tư pháp",
            "giấy đăng ký hoạt động của Văn phòng công chứng",
            "thẻ công chứng viên",
            "giấy đăng ký hoạt động của tổ chức hành nghề luật sư",
            "giấy đăng ký hoạt động của Trung tâm trọng tài",
            "giấy chứng nhận đăng ký hoạt động đấu giá tài sản",
        ),
    ),
    (
        6,
        "Sở Kế hoạch và Đầu tư",
        (
            "giấy chứng nhận đăng ký doanh nghiệp",
            "giấy chứng nhận đăng ký đầu tư",
            "giấy chứng nhận đăng ký hợp tác xã",
            "giấy chứng nhận đăng ký hoạt động chi nhánh",
            "giấy chứng nhận đăng ký địa điểm kinh doanh",
        ),
    ),
    (
        7,
        "Sở Xây dựng",
        (
            "giấy phép xây dựng công trình cấp I, II",
            "chứng chỉ hành nghề hoạt động xây dựng",
            "chứng chỉ năng lực hoạt động xây dựng",
            "giấy phép di dời công trình",
            "giấy phép hoạt động xây dựng cho nhà thầu nước ngoài",
        ),
    ),
    (
        8,
        "Sở Giao thông vận tải",
        (
            "giấy phép lái xe",
            "giấy phép kinh doanh vận tải bằng xe ô tô",
            "phù hiệu xe ô tô kinh doanh vận tải",
            "giấy phép lưu hành xe quá tải trọng",
            "giấy chứng nhận đăng ký phương tiện thủy nội địa",
            "giấy phép thi công công trình trên đường bộ",
        ),
    ),
    (
        9,
        "Sở Công Thương",
        (
            "giấy phép kinh doanh bán lẻ sản phẩm rượu",
            "giấy chứng nhận đủ điều kiện cửa hàng bán lẻ xăng dầu",
            "giấy phép hoạt động điện lực",
            "giấy chứng nhận đủ điều kiện sản xuất hóa chất",
            "giấy phép sản xuất rượu thủ công",
        ),
    ),
    (
        10,
        "Sở Nông nghiệp và Phát triển nông thôn",
        (
            "giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm nông lâm thủy sản",
            "chứng chỉ hành nghề thú y",
            "giấy chứng nhận đủ điều kiện buôn bán thuốc bảo vệ thực vật",
            "giấy phép vận chuyển thuốc bảo vệ thực vật",
            "giấy chứng nhận kiểm dịch động vật",
        ),
    ),
    (
        11,
        "Sở Y tế",
        (
            "chứng chỉ hành nghề khám bệnh, chữa bệnh",
            "giấy phép hoạt động khám bệnh, chữa bệnh",
            "chứng chỉ hành nghề dược",
            "giấy chứng nhận đủ điều kiện kinh doanh dược",
            "giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm",
            "giấy xác nhận nội dung quảng cáo thực phẩm",
        ),
    ),
    (
        12,
        "Sở Giáo dục và Đào tạo",
        (
            "giấy phép hoạt động giáo dục kỹ năng sống",
            "bản sao văn bằng, chứng chỉ từ sổ gốc",
            "giấy chứng nhận đăng ký hoạt động trung tâm ngoại ngữ",
            "quyết định cho phép thành lập trường trung học phổ thông tư thục",
        ),
    ),
    (
        13,
        "Sở Lao động - Thương binh và Xã hội",
        (
            "giấy phép hoạt động dịch vụ việc làm",
            "giấy phép lao động cho người nước ngoài",
            "giấy chứng nhận đăng ký hoạt động giáo dục nghề nghiệp",
            "giấy phép hoạt động cho thuê lại lao động",
        ),
    ),
    (
        14,
        "Sở Văn hóa, Thể thao và Du lịch",
        (
            "giấy phép kinh doanh dịch vụ lữ hành nội địa",
            "giấy phép kinh doanh dịch vụ karaoke",
            "thẻ hướng dẫn viên du lịch",
            "giấy chứng nhận đủ điều kiện kinh doanh hoạt động thể thao",
            "giấy phép tổ chức biểu diễn nghệ thuật",
        ),
    ),
    (
        16,
        "Sở Thông tin và Truyền thông",
        (
            "giấy phép xuất bản bản tin",
            "giấy phép hoạt động in",
            "giấy phép thiết lập trang thông tin điện tử tổng hợp",
            "giấy xác nhận đăng ký hoạt động cơ sở in",
        ),
    ),
    (
        17,
        "Sở Khoa học và Công nghệ",
        (
            "giấy chứng nhận đăng ký hoạt động khoa học và công nghệ",
            "giấy phép tiến hành công việc bức xạ",
            "giấy chứng nhận đăng ký dịch vụ hỗ trợ sử dụng thiết bị X-quang",
        ),
    ),
    (
        18,
        "Sở Tài chính",
        (
            "mã số đơn vị có quan hệ với ngân sách",
            "giấy chứng nhận đủ điều kiện kinh doanh dịch vụ thẩm định giá",
        ),
    ),
    (
        20,
        "Ban Quản lý Khu kinh tế tỉnh Tây Ninh",
        (
            "giấy phép xây dựng trong khu công nghiệp",
            "giấy chứng nhận đăng ký đầu tư trong khu kinh tế",
            "giấy phép lao động trong khu công nghiệp",
        ),
    ),
)

LAND_OFFICE_NAME: Final = "Văn phòng Đăng ký đất đai tỉnh Tây Ninh"
LAND_OBJECTS: Final[tuple[str, ...]] = (
    "giấy chứng nhận quyền sử dụng đất, quyền sở hữu nhà ở và tài sản gắn liền với đất",
    "đăng ký biến động quyền sử dụng đất",
    "đăng ký thế chấp quyền sử dụng đất",
    "xóa đăng ký thế chấp quyền sử dụng đất",
    "cung cấp thông tin, dữ liệu đất đai",
    "đính chính giấy chứng nhận đã cấp",
    "tách thửa hoặc hợp thửa đất",
    "đăng ký chuyển mục đích sử dụng đất không phải xin phép",
)
ACTIONS: Final[tuple[str, ...]] = (
    "Cấp",
    "Cấp lại",
    "Cấp đổi",
    "Gia hạn",
    "Điều chỉnh",
    "Cấp bổ sung",
    "Thẩm định hồ sơ cấp",
    "Thu hồi",
)
COMMUNE_PROCEDURES: Final[tuple[str, ...]] = (
    "Đăng ký khai sinh có yếu tố nước ngoài tại khu vực biên giới",
    "Đăng ký kết hôn",
    "Đăng ký lại khai sinh",
    "Đăng ký khai tử",
    "Đăng ký nhận cha, mẹ, con",
    "Cấp bản sao trích lục hộ tịch",
    "Chứng thực bản sao từ bản chính",
    "Chứng thực chữ ký trong các giấy tờ, văn bản",
    "Chứng thực hợp đồng, giao dịch liên quan đến tài sản là động sản",
    "Chứng thực di chúc",
    "Chứng thực văn bản thỏa thuận phân chia di sản",
    "Đăng ký thay đổi, cải chính, bổ sung thông tin hộ tịch",
    "Cấp giấy xác nhận tình trạng hôn nhân",
    "Đăng ký giám hộ",
    "Đăng ký chấm dứt giám hộ",
    "Thủ tục xác nhận hợp đồng tiếp cận nguồn gen",
    "Đăng ký kiểm tra xác nhận kế hoạch bảo vệ môi trường",
    "Cấp giấy phép đào đường, vỉa hè",
    "Chứng thực việc sửa đổi, bổ sung, hủy bỏ hợp đồng",
    "Đăng ký khai sinh lưu động",
    "Đăng ký khai sinh kết hợp đăng ký nhận cha, mẹ, con",
    "Đăng ký kết hôn lưu động",
    "Đăng ký khai tử lưu động",
    "Đăng ký lại kết hôn",
    "Đăng ký lại khai tử",
    "Đăng ký việc nuôi con nuôi trong nước",
    "Đăng ký lại việc nuôi con nuôi trong nước",
    "Chứng thực hợp đồng, giao dịch liên quan đến quyền sử dụng đất",
    "Chứng thực văn bản khai nhận di sản",
    "Chứng thực văn bản từ chối nhận di sản",
    "Cấp bản sao có chứng thực từ bản chính hợp đồng, giao dịch đã được chứng thực",
    "Đăng ký giám sát việc giám hộ",
    "Cấp giấy phép tổ chức lễ hội",
    "Thông báo tổ chức lễ hội",
    "Đăng ký hoạt động tín ngưỡng",
    "Cấp giấy chứng nhận đăng ký kinh tế trang trại",
    "Xác nhận đơn đề nghị hỗ trợ thiệt hại trong sản xuất nông nghiệp",
    "Đăng ký thường trú tại cơ sở tín ngưỡng",
    "Cấp giấy phép khai thác tài nguyên nước quy mô nhỏ",
    "Đăng ký kê khai số lượng chăn nuôi tập trung",
    "Chứng thực chữ ký người dịch",
    "Đăng ký khai sinh cho trẻ bị bỏ rơi",
    "Đăng ký nhận cha, mẹ, con lưu động",
    "Cấp trích lục ghi chú kết hôn",
    "Xác nhận hợp đồng giao khoán đất nông nghiệp",
    "Đăng ký bảo vệ môi trường đối với hộ gia đình",
    "Cấp phép sử dụng tạm thời lòng đường, hè phố",
    "Đăng ký hoạt động của nhóm trẻ độc lập",
)
DISTRICT_PROCEDURES: Final[tuple[str, ...]] = (
    "Cấp giấy chứng nhận đăng ký hộ kinh doanh",
    "Cấp giấy phép kinh doanh bán lẻ sản phẩm thuốc lá",
    "Cấp giấy phép xây dựng nhà ở riêng lẻ",
    "Cấp giấy phép kinh doanh karaoke",
    "Cấp giấy chứng nhận đủ điều kiện an toàn thực phẩm",
    "Cấp giấy phép sản xuất rượu thủ công nhằm mục đích kinh doanh",
)

# (code zz, name, kind, communes): a district's communes get codes 000.yy.zz in this order.
DISTRICTS: Final[tuple[tuple[int, str, tuple[str, ...]], ...]] = (
    (31, "thành phố Tây Ninh", ("phường 1", "phường 3", "phường Ninh Sơn", "xã Thạnh Tân")),
    (
        32,
        "thị xã Hòa Thành",
        ("phường Long Hoa", "phường Hiệp Tân", "phường Long Thành Bắc", "xã Trường Hòa"),
    ),
    (33, "thị xã Trảng Bàng", ("phường Gia Lộc", "xã Đôn Thuận", "xã Hưng Thuận", "xã Phước Chỉ")),
    (
        34,
        "huyện Tân Biên",
        ("xã Tân Lập", "xã Thạnh Bắc", "xã Hòa Hiệp", "xã Mỏ Công", "xã Trà Vong", "xã Tân Phong"),
    ),
    (
        35,
        "huyện Tân Châu",
        ("xã Tân Hòa", "xã Tân Đông", "xã Suối Dây", "xã Suối Ngô", "xã Thạnh Đông", "xã Tân Hội"),
    ),
    (
        36,
        "huyện Dương Minh Châu",
        ("xã Bàu Năng", "xã Chà Là", "xã Cầu Khởi", "xã Phước Minh", "xã Truông Mít"),
    ),
    (
        37,
        "huyện Châu Thành",
        ("xã Hòa Hội", "xã Hòa Thạnh", "xã Thái Bình", "xã Hảo Đước", "xã Ninh Điền", "xã An Cơ"),
    ),
    (38, "huyện Gò Dầu", ("xã Bàu Đồn", "xã Cẩm Giang", "xã Hiệp Thạnh", "xã Phước Thạnh")),
    (39, "huyện Bến Cầu", ("xã Long Chữ", "xã Long Giang", "xã Lợi Thuận", "xã Tiên Thuận")),
)

PEOPLE: Final[tuple[str, ...]] = (
    "Nguyễn Văn Hùng",
    "Trần Thị Thu Hà",
    "Lê Minh Tuấn",
    "Phạm Thị Hồng",
    "Võ Thanh Tâm",
)
SYNC_ERRORS: Final[tuple[str, ...]] = (
    "Tài khoản thụ hưởng không tồn tại tại ngân hàng",
    "Mã ngân hàng không hợp lệ",
    "Tên tài khoản không khớp với tên chủ tài khoản tại ngân hàng",
    "Hết thời gian chờ phản hồi từ hệ thống Kho bạc (timeout)",
    "Đơn vị thụ hưởng chưa được cấp mã quan hệ ngân sách",
)
FEE_NAMES: Final[tuple[tuple[str, str], ...]] = (
    ("Lệ phí cấp giấy chứng nhận", "2"),
    ("Phí thẩm định hồ sơ", "1"),
    ("Lệ phí đăng ký", "2"),
    ("Phí thẩm định điều kiện kinh doanh", "1"),
    ("Lệ phí cấp giấy phép", "2"),
    ("Phí khai thác, sử dụng tài liệu", "1"),
    ("Tiền sử dụng đất", "3"),
)
FEE_AMOUNTS: Final[tuple[int, ...]] = (
    10000,
    20000,
    25000,
    30000,
    50000,
    100000,
    150000,
    200000,
    300000,
    500000,
    1000000,
    1500000,
    2500000,
)
